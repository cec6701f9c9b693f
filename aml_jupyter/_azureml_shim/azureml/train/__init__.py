"""Azure ML v1's ``azureml.train`` (estimators), served by aml_jupyter."""

__all__: list[str] = []  # the names live in its modules (estimator, sklearn, dnn)

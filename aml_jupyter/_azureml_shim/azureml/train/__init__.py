"""Azure ML v1's ``azureml.train`` (estimators), served by aml_jupyter."""

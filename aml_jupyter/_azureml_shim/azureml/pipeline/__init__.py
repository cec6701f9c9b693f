"""Azure ML v1's ``azureml.pipeline``, served by aml_jupyter (its names live in ``core`` and
``steps``)."""

__all__: list[str] = []

"""Azure ML v1's ``azureml.data``: the package of datastore kinds and data references."""

__all__: list[str] = []

"""Azure ML v1's ``azureml.data.datapath``: a datastore and a path, for datasets."""

from aml_jupyter.data.data_reference import DataPath

__all__ = ["DataPath"]

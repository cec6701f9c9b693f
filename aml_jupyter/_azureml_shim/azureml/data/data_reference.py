"""Azure ML v1's ``azureml.data.data_reference``: ``datastore.path(...)``'s reference."""

from aml_jupyter.data.data_reference import DataReference

__all__ = ["DataReference"]

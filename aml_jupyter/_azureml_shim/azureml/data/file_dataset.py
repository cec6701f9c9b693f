"""Azure ML v1's ``azureml.data.file_dataset``, served by aml_jupyter."""

from aml_jupyter.data.file_dataset import FileDataset

__all__ = ["FileDataset"]

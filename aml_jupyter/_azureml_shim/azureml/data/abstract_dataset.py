"""Azure ML v1's ``azureml.data.abstract_dataset``, served by aml_jupyter."""

from aml_jupyter.data.abstract_dataset import AbstractDataset

__all__ = ["AbstractDataset"]

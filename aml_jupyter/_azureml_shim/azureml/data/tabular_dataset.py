"""Azure ML v1's ``azureml.data.tabular_dataset``, served by aml_jupyter."""

from aml_jupyter.data.tabular_dataset import TabularDataset

__all__ = ["TabularDataset"]

"""Azure ML v1's ``azureml.data.dataset_factory``, served by aml_jupyter."""

from aml_jupyter.data.dataset_factory import FileDatasetFactory, TabularDatasetFactory

__all__ = ["FileDatasetFactory", "TabularDatasetFactory"]

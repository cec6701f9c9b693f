"""Azure ML v1's ``azureml.data``: the dataset classes, datastore kinds and data references,
served by aml_jupyter."""

from aml_jupyter.data.file_dataset import FileDataset
from aml_jupyter.data.output_config import OutputFileDatasetConfig
from aml_jupyter.data.tabular_dataset import TabularDataset

__all__ = ["FileDataset", "OutputFileDatasetConfig", "TabularDataset"]

"""Azure ML v1's ``azureml.data.output_dataset_config``, served by aml_jupyter."""

from aml_jupyter.data.output_config import OutputFileDatasetConfig

__all__ = ["OutputFileDatasetConfig"]

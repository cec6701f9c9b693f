"""Azure ML v1's ``azureml.data.dataset_consumption_config``, served by aml_jupyter."""

from aml_jupyter.data.consumption import DatasetConsumptionConfig

__all__ = ["DatasetConsumptionConfig"]

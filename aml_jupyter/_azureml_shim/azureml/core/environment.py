"""Azure ML v1's ``azureml.core.environment``."""

from aml_jupyter import Environment

__all__ = ["Environment"]

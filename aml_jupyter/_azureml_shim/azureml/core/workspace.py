"""Azure ML v1's ``azureml.core.workspace``."""

from aml_jupyter import Workspace

__all__ = ["Workspace"]

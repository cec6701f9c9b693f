"""Azure ML v1's ``azureml.core.keyvault``: the workspace's secrets, kept encrypted."""

from aml_jupyter.tracking.keyvault import Keyvault

__all__ = ["Keyvault"]

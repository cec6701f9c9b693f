"""Azure ML v1's ``azureml.core.webservice``: local scoring services, served by aml_jupyter."""

from aml_jupyter import LocalWebservice

__all__ = ["LocalWebservice"]

"""Azure ML v1's ``azureml.data.azure_storage_datastore``: the Azure Blob datastore."""

from aml_jupyter.data.datastore_kinds import AzureBlobDatastore

__all__ = ["AzureBlobDatastore"]

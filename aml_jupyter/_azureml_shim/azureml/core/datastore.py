"""Azure ML v1's ``azureml.core.datastore``: ``Datastore`` (workspaceblobstore, registered
Azure Blob, ADLS Gen2, S3 and local-folder datastores)."""

from aml_jupyter.data.datastore import Datastore

__all__ = ["Datastore"]

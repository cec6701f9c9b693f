"""Azure ML v1's ``azureml.data.azure_data_lake_datastore``: the ADLS Gen2 datastore (Gen1 is
retired by Azure and not provided)."""

from aml_jupyter.data.datastore_kinds import AzureDataLakeGen2Datastore

__all__ = ["AzureDataLakeGen2Datastore"]

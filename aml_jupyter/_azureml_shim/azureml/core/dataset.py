"""Azure ML v1's ``azureml.core.dataset``: ``Dataset`` (``Dataset.File``, ``Dataset.Tabular``,
the lookups), served by aml_jupyter."""

from aml_jupyter import Dataset

__all__ = ["Dataset"]

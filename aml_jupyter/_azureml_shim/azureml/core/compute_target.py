"""Azure ML v1's ``azureml.core.compute_target``."""

from aml_jupyter import ComputeTarget

__all__ = ["ComputeTarget"]

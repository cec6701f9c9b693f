"""Azure ML v1's ``azureml.core.experiment``."""

from aml_jupyter import Experiment

__all__ = ["Experiment"]

"""Azure ML v1's ``azureml.train.sklearn``, served by aml_jupyter."""

from aml_jupyter.compute.frameworks import SKLearn

__all__ = ["SKLearn"]

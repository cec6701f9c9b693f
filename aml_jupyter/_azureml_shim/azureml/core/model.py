"""Azure ML v1's ``azureml.core.model``, served by aml_jupyter (runs and scoring services)."""

from aml_jupyter import InferenceConfig, Model

__all__ = ["InferenceConfig", "Model"]

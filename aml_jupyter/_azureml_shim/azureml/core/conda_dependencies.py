"""Azure ML v1's ``azureml.core.conda_dependencies``, served by aml_jupyter inside runs."""

from aml_jupyter import CondaDependencies

__all__ = ["CondaDependencies"]

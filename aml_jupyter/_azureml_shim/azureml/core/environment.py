"""Azure ML v1's ``azureml.core.environment``, served by aml_jupyter."""

from aml_jupyter.environments.conda_dependencies import CondaDependencies
from aml_jupyter.environments.environment import DockerSection, Environment, PythonSection

__all__ = ["CondaDependencies", "DockerSection", "Environment", "PythonSection"]

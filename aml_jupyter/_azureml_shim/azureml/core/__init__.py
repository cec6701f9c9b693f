"""Azure ML v1's ``azureml.core``, served by aml_jupyter inside runs and in the notebook."""

from aml_jupyter import (
    ComputeTarget,
    Dataset,
    Datastore,
    Environment,
    Experiment,
    Model,
    MpiConfiguration,
    PyTorchConfiguration,
    Run,
    RunConfiguration,
    RunStatus,
    ScriptRunConfig,
    Webservice,
    Workspace,
)
from aml_jupyter.tracking.keyvault import Keyvault
from aml_jupyter.version import __version__

#: v1 notebooks print it first ("SDK version: ..."): here aml_jupyter's version.
VERSION = __version__

__all__ = [
    "VERSION",
    "ComputeTarget",
    "Dataset",
    "Datastore",
    "Environment",
    "Experiment",
    "Keyvault",
    "Model",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "Run",
    "RunConfiguration",
    "RunStatus",
    "ScriptRunConfig",
    "Webservice",
    "Workspace",
]

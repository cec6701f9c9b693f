"""Azure ML v1's ``azureml.core``, served by aml_jupyter inside aml_jupyter runs."""

from aml_jupyter import (
    ComputeTarget,
    Environment,
    Experiment,
    MpiConfiguration,
    PyTorchConfiguration,
    Run,
    RunConfiguration,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)

__all__ = [
    "ComputeTarget",
    "Environment",
    "Experiment",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "Run",
    "RunConfiguration",
    "RunStatus",
    "ScriptRunConfig",
    "Workspace",
]

"""Azure ML v1's ``azureml.core``, served by aml_jupyter inside aml_jupyter runs."""

from aml_jupyter import (
    ComputeTarget,
    Experiment,
    MpiConfiguration,
    PyTorchConfiguration,
    Run,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)

__all__ = [
    "ComputeTarget",
    "Experiment",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "Run",
    "RunStatus",
    "ScriptRunConfig",
    "Workspace",
]

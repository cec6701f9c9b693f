"""Azure ML v1's ``azureml.core.runconfig``, served by aml_jupyter."""

from aml_jupyter.compute.distributed import (
    MpiConfiguration,
    PyTorchConfiguration,
    TensorflowConfiguration,
)
from aml_jupyter.compute.runconfig import (
    DockerConfiguration,
    HistoryConfiguration,
    RunConfiguration,
)
from aml_jupyter.environments.conda_dependencies import CondaDependencies
from aml_jupyter.environments.docker_image import DEFAULT_BASE_IMAGE

#: v1's default images name Microsoft's registry; here both are the local base image that
#: `make docker` builds (a local run sees the machine's GPUs as they are).
DEFAULT_CPU_IMAGE = DEFAULT_BASE_IMAGE
DEFAULT_GPU_IMAGE = DEFAULT_BASE_IMAGE

__all__ = [
    "DEFAULT_CPU_IMAGE",
    "DEFAULT_GPU_IMAGE",
    "CondaDependencies",
    "DockerConfiguration",
    "HistoryConfiguration",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "RunConfiguration",
    "TensorflowConfiguration",
]

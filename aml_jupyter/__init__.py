"""aml_jupyter: Azure ML v1's workspace, experiments and runs, local-first, inside Jupyter.

Every public name imports from here (``from aml_jupyter import Run``). Imports are lazy so
``import aml_jupyter`` costs almost nothing: a run's script and the ``aml`` CLI pay only for
what they use. ``%load_ext aml_jupyter`` loads the IPython magics.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .version import __version__

_EXPORTS = {
    "AmlError": "errors",
    "ActivityFailedException": "errors",
    "UserErrorException": "errors",
    "V1NameNotSupported": "errors",
    "RunStatus": "status",
    "Workspace": "tracking.workspace",
    "Experiment": "tracking.experiment",
    "Model": "registry.model",
    "Datastore": "data.datastore",
    "Dataset": "data.dataset_factory",
    "OutputFileDatasetConfig": "data.output_config",
    "InferenceConfig": "registry.deployment",
    "LocalWebservice": "registry.deployment",
    "Webservice": "registry.webservice",
    "AciWebservice": "registry.aci",
    "AmlCompute": "compute.cluster.aml_compute",
    "ComputeTargetException": "errors",
    "WebserviceException": "errors",
    "Run": "tracking.run",
    "ScriptRunConfig": "compute.config",
    "ComputeTarget": "compute",
    "ComputeInstance": "compute.instance.target",
    "ComputeCluster": "compute.cluster.target",
    "Environment": "environments.environment",
    "CondaDependencies": "environments.environment",
    "MpiConfiguration": "compute.distributed",
    "PyTorchConfiguration": "compute.distributed",
    "TensorflowConfiguration": "compute.distributed",
    "RunConfiguration": "compute.runconfig",
    "DockerConfiguration": "compute.runconfig",
    "Estimator": "compute.estimator",
    "SKLearn": "compute.frameworks",
    "PyTorch": "compute.frameworks",
    "TensorFlow": "compute.frameworks",
    "Tensorboard": "frontends.tensorboard",
    "RunDetails": "frontends.widgets",
    "CommandStep": "workflows.pipelines",
    "Pipeline": "workflows.pipelines",
    "PipelineData": "workflows.pipelines",
    "PipelineParameter": "workflows.pipelines",
    "PipelineRun": "workflows.pipelines",
    "PythonScriptStep": "workflows.pipelines",
    "StepRun": "workflows.pipelines",
    "StepSequence": "workflows.pipelines",
}

__all__ = [
    "AciWebservice",
    "ActivityFailedException",
    "AmlCompute",
    "AmlError",
    "CommandStep",
    "ComputeCluster",
    "ComputeInstance",
    "ComputeTarget",
    "ComputeTargetException",
    "CondaDependencies",
    "Dataset",
    "Datastore",
    "DockerConfiguration",
    "Environment",
    "Estimator",
    "Experiment",
    "InferenceConfig",
    "LocalWebservice",
    "Model",
    "MpiConfiguration",
    "OutputFileDatasetConfig",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PyTorch",
    "PyTorchConfiguration",
    "PythonScriptStep",
    "Run",
    "RunConfiguration",
    "RunDetails",
    "RunStatus",
    "SKLearn",
    "ScriptRunConfig",
    "StepRun",
    "StepSequence",
    "TensorFlow",
    "Tensorboard",
    "TensorflowConfiguration",
    "UserErrorException",
    "V1NameNotSupported",
    "Webservice",
    "WebserviceException",
    "Workspace",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .compute import ComputeTarget
    from .compute.cluster.aml_compute import AmlCompute
    from .compute.cluster.target import ComputeCluster
    from .compute.config import ScriptRunConfig
    from .compute.distributed import (
        MpiConfiguration,
        PyTorchConfiguration,
        TensorflowConfiguration,
    )
    from .compute.estimator import Estimator
    from .compute.frameworks import PyTorch, SKLearn, TensorFlow
    from .compute.instance.target import ComputeInstance
    from .compute.runconfig import DockerConfiguration, RunConfiguration
    from .data.dataset_factory import Dataset
    from .data.datastore import Datastore
    from .data.output_config import OutputFileDatasetConfig
    from .environments.environment import CondaDependencies, Environment
    from .errors import (
        ActivityFailedException,
        AmlError,
        ComputeTargetException,
        UserErrorException,
        V1NameNotSupported,
        WebserviceException,
    )
    from .frontends.tensorboard import Tensorboard
    from .frontends.widgets import RunDetails
    from .registry.aci import AciWebservice
    from .registry.deployment import InferenceConfig, LocalWebservice
    from .registry.model import Model
    from .registry.webservice import Webservice
    from .status import RunStatus
    from .tracking.experiment import Experiment
    from .tracking.run import Run
    from .tracking.workspace import Workspace
    from .workflows.pipelines import (
        CommandStep,
        Pipeline,
        PipelineData,
        PipelineParameter,
        PipelineRun,
        PythonScriptStep,
        StepRun,
        StepSequence,
    )


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'aml_jupyter' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext aml_jupyter``: register the ``%aml_*`` magics."""
    from .frontends.magics.data import DataMagics
    from .frontends.magics.models import ModelMagics
    from .frontends.magics.runs import AmlMagics

    ipython.register_magics(AmlMagics)
    ipython.register_magics(ModelMagics)
    ipython.register_magics(DataMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to undo beyond what IPython does itself."""


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Where Jupyter server finds the REST API that the sidebar reads."""
    return [{"module": "aml_jupyter.frontends.jupyter"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (the AML sidebar) shipped in the package."""
    return [{"src": "labextension", "dest": "aml-jupyter"}]

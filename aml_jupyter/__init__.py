"""aml_jupyter: Azure ML v1's workspace, experiments and runs, local-first, inside Jupyter.

Every public name imports from here (``from aml_jupyter import Run``). Imports are lazy so
``import aml_jupyter`` costs almost nothing: a run's script and the ``aml`` CLI pay only for
what they use. ``%load_ext aml_jupyter`` loads the IPython magics.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "AmlError": "errors",
    "ActivityFailedException": "errors",
    "UserErrorException": "errors",
    "RunStatus": "status",
    "Workspace": "workspace",
    "Experiment": "experiment",
    "Model": "model",
    "InferenceConfig": "deployment",
    "LocalWebservice": "deployment",
    "Run": "run",
    "ScriptRunConfig": "config",
    "ComputeTarget": "compute",
    "ComputeInstance": "compute.instance",
    "ComputeCluster": "compute.cluster",
    "Environment": "environment",
    "CondaDependencies": "environment",
    "MpiConfiguration": "distributed",
    "PyTorchConfiguration": "distributed",
    "Tensorboard": "tensorboard",
    "RunDetails": "widgets",
}

__all__ = [
    "ActivityFailedException",
    "AmlError",
    "ComputeCluster",
    "ComputeInstance",
    "ComputeTarget",
    "CondaDependencies",
    "Environment",
    "Experiment",
    "InferenceConfig",
    "LocalWebservice",
    "Model",
    "MpiConfiguration",
    "PyTorchConfiguration",
    "Run",
    "RunDetails",
    "RunStatus",
    "ScriptRunConfig",
    "Tensorboard",
    "UserErrorException",
    "Workspace",
    "__version__",
    "load_ipython_extension",
    "unload_ipython_extension",
]

if TYPE_CHECKING:
    from .compute import ComputeTarget
    from .compute.cluster import ComputeCluster
    from .compute.instance import ComputeInstance
    from .config import ScriptRunConfig
    from .deployment import InferenceConfig, LocalWebservice
    from .distributed import MpiConfiguration, PyTorchConfiguration
    from .environment import CondaDependencies, Environment
    from .errors import ActivityFailedException, AmlError, UserErrorException
    from .experiment import Experiment
    from .model import Model
    from .run import Run
    from .status import RunStatus
    from .tensorboard import Tensorboard
    from .widgets import RunDetails
    from .workspace import Workspace


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
    from .magics import AmlMagics
    from .magics_model import ModelMagics

    ipython.register_magics(AmlMagics)
    ipython.register_magics(ModelMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to undo beyond what IPython does itself."""


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Where Jupyter server finds the REST API that the sidebar reads."""
    return [{"module": "aml_jupyter.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab extension (the AML sidebar) shipped in the package."""
    return [{"src": "labextension", "dest": "aml-jupyter"}]

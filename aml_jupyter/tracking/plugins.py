"""What tracking uses from the layers above it, found by name: one table of module paths.

Tracking sits below compute and registry (see CONTRIBUTING.md) and may not import them, yet
``run.cancel()`` needs the target that runs the run, ``ws.compute_targets`` the target
classes and ``run.register_model`` the model registry. As Python's entry points (and MLflow's
tracking-store registry, which maps an address scheme to a ``"module:Class"``) do, each
provider is named here as ``"module:attribute"``, imported the first time it is asked for and
cached. A layer above, or a plugin, adds its own with :func:`register`.
"""

from __future__ import annotations

import importlib
import threading
from typing import Any

from ..errors import AmlError

#: The built-in providers: a name, and where its object lives.
BUILTIN: dict[str, str] = {
    # How each kind of compute target cancels a run and notices its owner died
    # (see tracking.targets; the kind is the compute target's type).
    "target.local": "aml_jupyter.compute.local.owner:LOCAL",
    "target.ComputeInstance": "aml_jupyter.compute.remote:REMOTE",
    "target.ComputeCluster": "aml_jupyter.compute.remote:REMOTE",
    "target.AmlCompute": "aml_jupyter.compute.remote:REMOTE",
    # What ws.compute_targets builds from a target's record.
    "compute_target": "aml_jupyter.compute:ComputeTarget",
    # The model registry (ws.models, run.register_model).
    "model": "aml_jupyter.registry.model:Model",
    # Datastores (ws.get_default_datastore(), ws.datastores).
    "datastore": "aml_jupyter.data.datastore:Datastore",
    "datastores": "aml_jupyter.data.datastore:all_datastores",
    # Registered datasets (ws.datasets).
    "dataset": "aml_jupyter.data.dataset_factory:Dataset",
    # Datasets in runs: laid out on the target before the script (compute.local.run_data), kept
    # when the run ends (tracking.finalize), a direct input read back (run.input_datasets).
    "run_data.prepare": "aml_jupyter.data.run_data:prepare",
    "run_data.finish": "aml_jupyter.data.run_data:finish",
    "run_data.dataset": "aml_jupyter.data.run_data:input_dataset",
    # A remote run's inputs as grants its node reads them by (compute.remote_data, at submit).
    "run_data.grants": "aml_jupyter.data.remote_inputs:resolve_inputs",
    # ...and in a Ray driver whose ranks read them on their nodes (compute.cluster.ray_ranks).
    "run_data.take_grants": "aml_jupyter.data.node_data:take_grants",
    "run_data.for_rank": "aml_jupyter.data.node_data:for_rank",
    # Configs Experiment.submit takes: importing one registers its submit function
    # (see tracking.submitting). Pipeline, HyperDriveConfig, AutoMLConfig … add theirs.
    "config.ScriptRunConfig": "aml_jupyter.compute.config:ScriptRunConfig",
    "config.Estimator": "aml_jupyter.compute.estimator:Estimator",
    # The class Run.get reads a run of each type as (tracking.run.run_class).
    "run_type.azureml.PipelineRun": "aml_jupyter.workflows.pipelines.runs:PipelineRun",
    "run_type.azureml.StepRun": "aml_jupyter.workflows.pipelines.runs:StepRun",
    "run_type.azureml.ReusedStepRun": "aml_jupyter.workflows.pipelines.runs:StepRun",
    # run.get_portal_url(): the run panel's link on a running Jupyter server, or None.
    "run_url": "aml_jupyter.frontends.jupyter_links:run_url",
}

_lock = threading.Lock()
_table: dict[str, str | Any] = dict(BUILTIN)
_loaded: dict[str, Any] = {}


def register(name: str, provider: Any) -> None:
    """Provide ``name`` with an object, or a ``"module:attribute"`` imported on first use."""
    with _lock:
        _table[name] = provider
        _loaded.pop(name, None)


def names(prefix: str = "") -> list[str]:
    """The registered names that start with ``prefix``."""
    with _lock:
        return sorted(n for n in _table if n.startswith(prefix))


def load(name: str) -> Any:
    """The object registered as ``name`` (its module imported once, then cached)."""
    cached = _loaded.get(name)
    if cached is not None:
        return cached
    with _lock:
        provider = _table.get(name)
    if provider is None:
        raise AmlError(f"Nothing provides {name!r}; known: {', '.join(names()) or 'none'}.")
    if isinstance(provider, str):
        module, _, attribute = provider.partition(":")
        try:
            found = getattr(importlib.import_module(module), attribute)
        except (ImportError, AttributeError) as exc:
            raise AmlError(
                f"{name!r} is provided by {provider}, which cannot be loaded ({exc}). "
                "Reinstall aml_jupyter, or fix the plugin that registered it."
            ) from exc
    else:
        found = provider
    with _lock:
        _loaded[name] = found
    return found

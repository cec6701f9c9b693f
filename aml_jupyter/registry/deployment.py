"""Deploying registered models as local scoring services, with Azure ML v1's names.

::

    service = Model.deploy(ws, "iris-svc", [model],
                           inference_config=InferenceConfig(entry_script="score.py",
                                                            source_directory="serve"),
                           deployment_config=LocalWebservice.deploy_configuration(port=8890))
    service.wait_for_deployment()
    service.run({"data": [[5.1, 3.5, 1.4, 0.2]]})       # or POST service.scoring_uri

A service is a detached process group (:mod:`aml_jupyter.registry.scoring_server`), so it outlives the
notebook that deployed it: a supervisor that keeps its workers running (a worker that dies is
replaced, with backoff: :mod:`aml_jupyter.registry.scoring_workers`) and ends with them on ``delete()``.
Its spec is a record of the workspace store (``ws.store.get_service(name)``); its live folder
(``ws.store.service_folder(name)``) holds a copy of the models (``AZUREML_MODEL_DIR``) and of
the source folder (edits take effect on ``reload()``), its log and its request statistics.

This module checks a deployment and lays out and starts its service (``deploy``); the configs
are in :mod:`aml_jupyter.registry.service_config`, the service object in
:mod:`aml_jupyter.registry.webservice` (both also importable from here).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compute.distributed import free_port
from ..errors import AmlError, WebserviceException
from .names import check_name
from .scoring_env import service_python
from .service_config import (
    InferenceConfig,
    LocalWebserviceDeploymentConfiguration,
    max_body_bytes,
)
from .service_processes import copy_source, port_is_free, start_service, stop_folder
from .webservice import LocalWebservice, Webservice

if TYPE_CHECKING:
    from ..store.service_folder import ServiceFolder
    from ..tracking.workspace import Workspace
    from .model import Model

_NO_CODE_FRAMEWORKS = {"scikitlearn", "sklearn"}


def deploy(
    workspace: Workspace,
    name: str,
    models: list[Model],
    inference_config: InferenceConfig | None = None,
    deployment_config: Any = None,
    overwrite: bool = False,
) -> Webservice:
    """``Model.deploy``: check everything, lay out and record the service, start, wait for
    health."""
    from .aci import AciServiceDeploymentConfiguration

    check_name(name, "Service")
    if not models:  # Model.deploy checks they are Model objects
        raise AmlError("models must be a non-empty list of Model objects (Model(ws, name)).")
    config = deployment_config or LocalWebservice.deploy_configuration()
    if not isinstance(
        config, (LocalWebserviceDeploymentConfiguration, AciServiceDeploymentConfiguration)
    ):
        raise WebserviceException(
            "deployment_config must come from LocalWebservice.deploy_configuration() or "
            "AciWebservice.deploy_configuration()."
        )
    body_limit = max_body_bytes()
    inference = inference_config or InferenceConfig()
    entry, source = inference.entry_script, inference.source_directory
    if entry:
        source_dir = Path(source or ".").expanduser().resolve()
        if not (source_dir / entry).is_file():
            raise AmlError(f"The entry script {entry!r} was not found in {str(source_dir)!r}.")
    else:
        model = models[0]
        framework = (model.model_framework or "").lower()
        if len(models) != 1 or framework not in _NO_CODE_FRAMEWORKS or model._row.is_folder:
            raise AmlError(
                "No entry_script: only one scikit-learn model file (registered with "
                "model_framework='ScikitLearn') deploys without one. Give "
                "InferenceConfig(entry_script='score.py', source_directory=...) otherwise."
            )
    store = workspace.store
    live = store.service_folder(name)
    if store.get_service(name) is not None:
        if not overwrite:
            raise WebserviceException(
                f"A service named {name!r} exists already; pass overwrite=True to replace it, "
                "or choose another name."
            )
        Webservice(workspace, name).delete()
    elif live.exists():  # files no record points to (an old deployment's unreadable spec)
        if not overwrite:
            raise AmlError(
                f"{live.root} is left from a service whose spec cannot be read; pass "
                "overwrite=True to replace it, or choose another name."
            )
        stop_folder(live)
        live.remove()
    if isinstance(config, AciServiceDeploymentConfiguration):
        from .aci import deploy_aci

        return deploy_aci(
            workspace, name, models, inference, config, _inference_record(workspace, inference)
        )
    port = config.port if config.port is not None else free_port()
    if not port_is_free(port):
        raise AmlError(
            f"Port {port} is in use by another program; choose another with "
            "LocalWebservice.deploy_configuration(port=...) or leave it out to get a free one."
        )
    # Laid out hidden, then recorded, then moved into place: a failed deploy leaves nothing.
    staged = live.incoming()
    try:
        python, environment_info = service_python(
            workspace, inference.environment, staged.environment_build_log
        )
        no_code_file, model_dir = _stage(workspace, staged, live, models, entry, source)
    except BaseException:
        staged.remove()
        raise
    spec = {
        "name": name,
        "port": port,
        "workers": config.workers,
        "models": [m.id for m in models],
        "model_dir": str(model_dir),
        "entry_script": entry,
        "source_directory": str(live.source_folder) if entry else None,
        "source_origin": str(Path(source or ".").expanduser().resolve()) if entry else None,
        "no_code_model_file": no_code_file,
        "max_body_bytes": body_limit,
        "python": python,
        "inference": _inference_record(workspace, inference),
        **environment_info,
    }
    try:
        store.add_service(name, spec)  # another deploy of the name since: refused here
    except BaseException:
        staged.remove()
        raise
    try:
        live.publish(staged)
    except BaseException:
        staged.remove()
        store.delete_service(name)
        raise
    service = LocalWebservice(workspace, name)
    try:
        start_service(workspace.folder, name, service._spec, service._files)
        service.wait_for_deployment()
    except BaseException:
        service.delete()  # a service that cannot start is not left behind
        raise
    return service


def _inference_record(workspace: Workspace, inference: InferenceConfig) -> dict[str, Any]:
    """What ``update`` needs to deploy again with the same inference config."""
    from ..environments.environment import resolve_environment

    env = resolve_environment(workspace, inference.environment)
    source = inference.source_directory
    return {
        "entry_script": inference.entry_script,
        "source_directory": str(Path(source or ".").expanduser().resolve())
        if inference.entry_script
        else None,
        "environment": None if env is None else env._spec(),
    }


def inference_of(spec: dict[str, Any]) -> InferenceConfig:
    """The inference config a service was deployed with (from its record)."""
    from ..environments.environment import Environment

    saved = spec.get("inference") or {
        "entry_script": spec.get("entry_script"),
        "source_directory": spec.get("source_origin"),
        "environment": None,
    }
    env = saved.get("environment")
    return InferenceConfig(
        entry_script=saved.get("entry_script"),
        source_directory=saved.get("source_directory"),
        environment=None if env is None else Environment._from_spec(dict(env)),
    )


def redeploy(
    service: Webservice, models: Any, inference_config: Any, deployment_config: Any
) -> Webservice:
    """``service.update`` with new models or configs: deploy again under its name, what is not
    given as it was (its tags, properties and description kept)."""
    from .model import Model

    spec = dict(service._spec)
    if models is None:
        models = [Model(service.workspace, id=m) for m in service.models]
    inference = inference_config or inference_of(spec)
    config = deployment_config or service._deployment_config()
    fresh = deploy(service.workspace, service.name, list(models), inference, config, overwrite=True)
    labels = {k: spec[k] for k in ("tags", "properties", "description") if spec.get(k) is not None}
    if labels and deployment_config is None:
        fresh._save_spec(labels)
    return fresh


def _stage(
    workspace: Workspace,
    staged: ServiceFolder,
    live: ServiceFolder,
    models: list[Any],
    entry: str | None,
    source: str | None,
) -> tuple[str | None, Path]:
    """Copy the models (and the entry script's folder) into ``staged``; returns the no-code
    model file (if any) and what ``AZUREML_MODEL_DIR`` will be once ``live``."""
    no_code_file = None
    for model in models:
        model._write(staged.models_folder / model.name / str(model.version) / model._row.path)
    # v1: one model -> AZUREML_MODEL_DIR is its version folder; several -> the parent of all.
    if len(models) == 1:
        m = models[0]
        model_dir = live.models_folder / m.name / str(m.version)
        if not entry:
            no_code_file = str(model_dir / m._row.path)
    else:
        model_dir = live.models_folder
    if entry:
        source_dir = Path(source or ".").expanduser().resolve()
        copy_source(workspace, source_dir, staged.source_folder)
    return no_code_file, model_dir


__all__ = [
    "InferenceConfig",
    "LocalWebservice",
    "LocalWebserviceDeploymentConfiguration",
    "Webservice",
    "inference_of",
    "redeploy",
]

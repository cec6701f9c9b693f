"""MLflow 3's logged models, kept on the run that logged them.

``mlflow.sklearn.log_model(m, name="model")`` creates a logged model, then writes its files to
its ``artifact_location``. Ours is the source run's ``outputs/<name>``, so the model is a
folder of run files (``run.register_model(..., model_path="outputs/model")``), as in MLflow 2
and v1. The model's record (status, tags) is one run tag ``mlflow.loggedModel.<model id>``
(JSON), much as MLflow 2 kept ``mlflow.log-model.history`` on the run.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from mlflow.entities import LoggedModel, LoggedModelStatus

from ...errors import AmlError
from ...paths import checked_relative_name
from ...tracking.workspace import Workspace
from .address import ARTIFACT_ROOT, AmlMlflowError, artifact_uri, not_found
from .entities import experiment_id

TAG_PREFIX = "mlflow.loggedModel."


def _tag(model_id: str) -> str:
    return TAG_PREFIX + model_id


def create(
    ws: Workspace,
    run_id: str | None,
    name: str | None,
    tags: dict[str, str],
    model_type: str | None,
) -> LoggedModel:
    if not run_id:
        raise AmlMlflowError(
            "aml: a model is kept with the run that logs it: log it inside mlflow.start_run() "
            "(or pass run_id=...)."
        )
    record = ws.store.get_run(run_id)
    name = name or "model"
    try:
        checked_relative_name(name, "model name")
    except AmlError as exc:
        raise AmlMlflowError(str(exc)) from None
    now = int(time.time() * 1000)
    entry = {
        "name": name,
        "run": run_id,
        "experiment": record.experiment,
        "status": LoggedModelStatus.PENDING.value,
        "model_type": model_type,
        "tags": tags,
        "created": now,
        "updated": now,
    }
    model_id = f"m-{uuid.uuid4().hex}"
    ws.store.set_tags(run_id, {_tag(model_id): json.dumps(entry)})
    return _entity(ws, model_id, entry)


def _entity(ws: Workspace, model_id: str, entry: dict[str, Any]) -> LoggedModel:
    return LoggedModel(
        experiment_id=experiment_id(entry["experiment"]),
        model_id=model_id,
        name=entry["name"],
        artifact_location=artifact_uri(ws, entry["run"], f"{ARTIFACT_ROOT}/{entry['name']}"),
        creation_timestamp=entry["created"],
        last_updated_timestamp=entry["updated"],
        model_type=entry.get("model_type"),
        source_run_id=entry["run"],
        status=LoggedModelStatus(entry["status"]),
        tags=entry.get("tags") or {},
    )


def _find(ws: Workspace, model_id: str) -> dict[str, Any]:
    if not isinstance(model_id, str) or not model_id.startswith("m-"):
        raise not_found(f"No logged model {model_id!r} in workspace {ws.folder}.")
    key = _tag(model_id)
    for record in ws.store.list_runs(tags={key: None}, include_children=True, limit=1):
        text = ws.store.get_tags(record.id).get(key)
        if text:
            entry: dict[str, Any] = json.loads(text)
            return entry
    raise not_found(f"No logged model {model_id!r} in workspace {ws.folder}.")


def get(ws: Workspace, model_id: str) -> LoggedModel:
    return _entity(ws, model_id, _find(ws, model_id))


def update(ws: Workspace, model_id: str, **changes: Any) -> LoggedModel:
    """Change the record: ``status=``, ``tags=`` (merged), ``remove_tag=``."""
    entry = _find(ws, model_id)
    if "status" in changes:
        status = changes["status"]
        if isinstance(status, int):
            status = LoggedModelStatus.from_int(status)
        entry["status"] = LoggedModelStatus(status).value
    entry["tags"] = {**entry.get("tags", {}), **changes.get("tags", {})}
    entry["tags"].pop(changes.get("remove_tag"), None)
    entry["updated"] = int(time.time() * 1000)
    ws.store.set_tags(entry["run"], {_tag(model_id): json.dumps(entry)})
    return _entity(ws, model_id, entry)


def in_experiments(ws: Workspace, experiments: list[str]) -> list[LoggedModel]:
    """Every logged model of the runs of these experiments (by name)."""
    found = []
    for experiment in experiments:
        for record in ws.store.list_runs(
            experiment=experiment, include_children=True, with_tags=True
        ):
            for key, text in (record.tags or {}).items():
                if key.startswith(TAG_PREFIX) and text:
                    found.append(_entity(ws, key[len(TAG_PREFIX) :], json.loads(text)))
    return found

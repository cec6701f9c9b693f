"""Our records as MLflow's entities: runs, experiments, metrics; names and statuses mapped.

* Experiment id = our experiment's name (names are unique); MLflow's default experiment
  ``"0"`` is our experiment ``Default``.
* Params are kept as run tags, as v1 did (``run.get_tags()["alpha"]``), and once more as
  properties ``mlflow.param.<key>``: properties are immutable like MLflow params, and they
  tell a param from a tag.
* ``mlflow.runName`` is the run's display name, ``mlflow.parentRunId`` its parent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from mlflow.entities import (
    Experiment,
    LifecycleStage,
    Metric,
    Param,
    Run,
    RunData,
    RunInfo,
    RunInputs,
    RunOutputs,
    RunTag,
)

from ...status import RunStatus
from ...store.types import ExperimentRecord, RunRecord
from ...tracking.workspace import Workspace
from .address import artifact_uri, tracking_uri_of

DEFAULT_EXPERIMENT_ID, DEFAULT_EXPERIMENT = "0", "Default"
PARAM_PREFIX = "mlflow.param."
RUN_NAME_TAG, PARENT_TAG, USER_TAG = "mlflow.runName", "mlflow.parentRunId", "mlflow.user"

_STATUS = {
    RunStatus.COMPLETED: "FINISHED",
    RunStatus.FAILED: "FAILED",
    RunStatus.CANCELED: "KILLED",
    RunStatus.RUNNING: "RUNNING",
    RunStatus.FINALIZING: "RUNNING",
    RunStatus.CANCEL_REQUESTED: "RUNNING",
}


def experiment_name(experiment_id: str) -> str:
    return DEFAULT_EXPERIMENT if str(experiment_id) == DEFAULT_EXPERIMENT_ID else str(experiment_id)


def experiment_id(name: str) -> str:
    return DEFAULT_EXPERIMENT_ID if name == DEFAULT_EXPERIMENT else name


def mlflow_status(status: str) -> str:
    return _STATUS.get(status, "SCHEDULED")  # not started yet: queued, preparing, starting


def experiment_entity(ws: Workspace, record: ExperimentRecord) -> Experiment:
    created = int(record.created_utc * 1000)
    last = int((record.last_run_utc or record.created_utc) * 1000)
    return Experiment(
        experiment_id(record.name),
        record.name,
        f"{tracking_uri_of(ws)}/experiments/{record.name}",
        LifecycleStage.ACTIVE,
        tags=[],
        creation_time=created,
        last_update_time=last,
    )


def split_params(
    tags: Mapping[str, str | None], properties: Mapping[str, str]
) -> tuple[dict[str, str], dict[str, str]]:
    """``(params, tags)`` as MLflow shows them, from our run's tags and properties."""
    params = {
        k[len(PARAM_PREFIX) :]: v for k, v in properties.items() if k.startswith(PARAM_PREFIX)
    }
    shown = {k: v or "" for k, v in tags.items() if not (k in params and params[k] == v)}
    return params, shown


def latest_metrics(ws: Workspace, run_id: str) -> list[Metric]:
    """The last numeric value of each scalar metric, with its step and time."""
    latest: dict[str, tuple[Any, Any, float]] = {}
    columns = ws.store.metric_columns(run_id)
    if columns is not None:
        for name, (steps, values, seconds) in columns.scalars.items():
            for i in range(len(values) - 1, -1, -1):
                if _number(values[i]):
                    latest[name] = (values[i], steps[i], seconds[i])
                    break
    else:
        points, _ = ws.store.metric_points(run_id)
        for kind, name, value, step, at in points:
            if kind == "s" and _number(value):
                latest[name] = (value, step, at / 1e6)
    return [
        Metric(name, float(value), round(at * 1000), step or 0)
        for name, (value, step, at) in latest.items()
    ]


def _number(value: Any) -> bool:
    return type(value) in (int, float, bool) and not (type(value) is float and math.isnan(value))


def run_entity(
    ws: Workspace,
    record: RunRecord,
    tags: Mapping[str, str | None],
    properties: Mapping[str, str],
    outputs: RunOutputs | None = None,
) -> Run:
    params, shown = split_params(tags, properties)
    name = record.display_name or record.id
    shown[RUN_NAME_TAG] = name
    if record.parent_id:
        shown[PARENT_TAG] = record.parent_id
    started = record.started_utc or record.created_utc
    info = RunInfo(
        run_id=record.id,
        experiment_id=experiment_id(record.experiment),
        user_id=shown.get(USER_TAG, ""),
        status=mlflow_status(record.status),
        start_time=int(started * 1000),
        end_time=int(record.ended_utc * 1000) if record.ended_utc else None,
        lifecycle_stage=LifecycleStage.ACTIVE,
        artifact_uri=artifact_uri(ws, record.id),
        run_name=name,
    )
    data = RunData(
        metrics=latest_metrics(ws, record.id),
        params=[Param(k, v) for k, v in params.items()],
        tags=[RunTag(k, v) for k, v in shown.items()],
    )
    return Run(info, data, RunInputs(dataset_inputs=[]), outputs)

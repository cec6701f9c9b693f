"""``Run``: one tracked execution, with its status, metrics, tags, properties, files, children.

Names and signatures follow Azure ML v1's ``azureml.core.Run`` so scripts carry over. Metrics
go to an append-only file per process (see :mod:`aml_jupyter.store.metrics`); everything else
is in the workspace's SQLite database and blob store.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..status import RunStatus
from ..store.limits import MAX_NAME_CHARS, MAX_TAG_VALUE_CHARS, check_text
from ..store.run_folder import DRIVER_LOG
from ..store.types import RunRecord
from . import plugins, targets
from .run_children import RunChildren
from .run_datasets import RunDatasets
from .run_logs import RunLogs
from .run_metrics import RunMetrics
from .run_snapshot import RunSnapshot
from .run_tags import RunTags
from .run_v1 import RunV1

if TYPE_CHECKING:
    from .experiment import Experiment
    from .workspace import Workspace

#: Run types: a submitted script, a run started in this process, a child of either.
SCRIPT_RUN, INTERACTIVE_RUN = "azureml.scriptrun", "interactive"
#: A pipeline (its orchestrator owns it) and a step of one that ran (its supervisor does).
PIPELINE_RUN, STEP_RUN = "azureml.PipelineRun", "azureml.StepRun"
#: Types of runs a process of their target owns: a cancel goes to it, not this process.
SUBMITTED_RUN_TYPES = frozenset({SCRIPT_RUN, PIPELINE_RUN, STEP_RUN})


def run_class(run_type: str) -> type[Run]:
    """The class a run of ``run_type`` is read as (``azureml.PipelineRun``: a PipelineRun,
    as v1's ``Run.get`` gives), from the plugin table's ``run_type.*``; else :class:`Run`."""
    name = f"run_type.{run_type}"
    if name in plugins.names("run_type."):
        found: type[Run] = plugins.load(name)
        return found
    return Run


def _utc(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Run(RunMetrics, RunLogs, RunChildren, RunV1, RunDatasets, RunTags, RunSnapshot):
    """A run in an experiment. Get one from ``experiment.submit(...)``, ``Run.get_context()``,
    ``experiment.start_logging()``, ``Run.get(ws, run_id)`` or ``Run(experiment, run_id)``.

    A run keeps its record as last read: ``status``, ``display_name``, ``tags``, ``number`` …
    read it without asking the store; ``get_status()`` asks again while the run is active
    (an ended run never changes), ``get_tags()``/``get_properties()`` always do, and
    :meth:`refresh` re-reads everything."""

    #: True for the run a submitted script gets from get_context(): its supervisor ends it.
    _managed = False

    def __init__(
        self,
        experiment: Experiment,
        run_id: str,
        outputs: Any = None,
        *,
        _record: RunRecord | None = None,
    ) -> None:
        self._experiment = experiment
        self._ws: Workspace = experiment.workspace
        self._id = run_id
        self._writer = None
        self._outputs_dir: Path | None = None
        self._properties: dict[str, str] | None = None
        # Read now when not handed over: an unknown id is a clear error now, not later.
        self._record = _record if _record is not None else self._ws.store.get_run(run_id)

    @classmethod
    def _of(cls, experiment: Experiment, record: RunRecord) -> Run:
        """The run of a record already read (a listing's), without reading it again."""
        return cls(experiment, record.id, _record=record)

    # finding runs ---------------------------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, run_id: str) -> Run:
        """The run with id ``run_id`` (or a unique prefix of it) in ``workspace``."""
        from .experiment import Experiment

        store = workspace.store
        matches = store.find_run_ids(run_id)
        if run_id not in matches:
            if len(matches) > 1:
                raise AmlError(f"Run id prefix {run_id!r} matches several runs; type more of it.")
            if matches:
                run_id = matches[0]
        record = store.get_run(run_id)
        experiment = Experiment(workspace, record.experiment, _check_name=False)
        return run_class(record.run_type)._of(experiment, record)

    @classmethod
    def get_context(cls, allow_offline: bool = True, **kwargs: Any) -> Run:
        """The run this code is part of.

        Inside a submitted run: that run. Elsewhere: a new run recorded into the workspace that
        ``Workspace.from_config()`` finds (v1 only printed), completed when the process exits.
        With no workspace: an offline run kept in a throwaway folder (or an error when
        ``allow_offline=False``).
        """
        from .context import current_run

        return current_run(allow_offline=allow_offline)

    @staticmethod
    def list(
        experiment: Experiment,
        type: str | None = None,
        tags: Any = None,
        properties: dict[str, str] | None = None,
        status: str | None = None,
        include_children: bool = False,
    ) -> Iterator[Run]:
        """Runs of an experiment, newest first."""
        return experiment.get_runs(
            type=type,
            tags=tags,
            properties=properties,
            status=status,
            include_children=include_children,
        )

    # identity ---------------------------------------------------------------------------------
    def _row(self) -> RunRecord:
        """The run's record, read again now."""
        self.refresh()
        return self._record

    def refresh(self) -> None:
        """Read the run's record (status, names, tags …) again from the workspace."""
        # An active run's target looks at it first: one whose owner died comes back ended.
        self._record = targets.check_active_run(self._ws, self._ws.store.get_run(self._id))
        self._properties = None

    @property
    def id(self) -> str:
        """The run id, ``<experiment>_<unix time>_<8 hex>``."""
        return self._id

    @property
    def workspace(self) -> Workspace:
        """The workspace holding this run."""
        return self._ws

    @property
    def experiment(self) -> Experiment:
        """The experiment this run belongs to."""
        return self._experiment

    @property
    def number(self) -> int:
        """The run's sequence number within its experiment (1, 2, …)."""
        return self._record.number

    @property
    def type(self) -> str:
        """``azureml.scriptrun`` for a submitted script, ``interactive`` or ``child``."""
        return self._record.run_type

    @property
    def status(self) -> str:
        """The run's status when last read (see :class:`aml_jupyter.RunStatus`);
        :meth:`get_status` asks again."""
        return self._record.status

    @property
    def parent(self) -> Run | None:
        """The parent run, or None for a top-level run."""
        parent_id = self._record.parent_id
        if not parent_id:
            return None
        record = self._ws.store.get_run(parent_id)
        return run_class(record.run_type)._of(self._experiment, record)

    @property
    def name(self) -> str:
        """The display name, or the id when none was set."""
        return self.display_name

    @property
    def display_name(self) -> str:
        """A human name for the run (settable); defaults to its id."""
        return self._record.display_name or self._id

    @display_name.setter
    def display_name(self, value: str) -> None:
        name = check_text(str(value), "run display name", MAX_NAME_CHARS)
        self._ws.store.update_run(self._id, display_name=name)
        self._record = self._record._replace(display_name=name)

    @property
    def description(self) -> str | None:
        """Free text about the run (settable)."""
        return self._record.description

    @description.setter
    def description(self, value: str) -> None:
        text = check_text(str(value), "run description", MAX_TAG_VALUE_CHARS)
        self._ws.store.update_run(self._id, description=text)
        self._record = self._record._replace(description=text)

    @property
    def tags(self) -> dict[str, str | None]:
        """The run's tags when last read (see :meth:`tag`; :meth:`get_tags` asks again)."""
        tags = self._record.tags
        return dict(tags) if tags is not None else self.get_tags()

    @property
    def properties(self) -> dict[str, str]:
        """The run's properties (immutable once set)."""
        if self._properties is None:
            return self.get_properties()
        return dict(self._properties)

    @property
    def folder(self) -> Path:
        """The run's live folder in the workspace (driver log, metrics files, working folder)."""
        return self._ws.store.run_folder(self._id).root

    def __repr__(self) -> str:
        return (
            f"Run(Experiment: {self._experiment.name},\nId: {self._id},\nType: {self.type},\n"
            f"Status: {self.status})"
        )

    def _repr_html_(self) -> str:
        """A one-row table in notebooks, as v1 showed (names are escaped, never markup)."""
        from html import escape

        record = self._record
        cells = {
            "Experiment": self._experiment.name,
            "Id": self._id,
            "Name": record.display_name or "",
            "Type": record.run_type,
            "Status": record.status,
            "Target": record.target or "",
            "Created": _utc(record.created_utc) or "",
        }
        head = "".join(f"<th>{escape(k)}</th>" for k in cells)
        body = "".join(f"<td>{escape(str(v))}</td>" for v in cells.values())
        return f"<table><tr>{head}</tr><tr>{body}</tr></table>"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Run) and other._id == self._id and other._ws == self._ws

    def __hash__(self) -> int:
        return hash(self._id)

    # status and details -----------------------------------------------------------------------
    def get_status(self) -> str:
        """The current status string (NotStarted … Completed/Failed/Canceled); read again
        while the run is active (an ended run's status never changes)."""
        return self._current().status

    def _current(self) -> RunRecord:
        """The record, read again unless the run has ended."""
        if self._record.status not in RunStatus.TERMINAL:
            self.refresh()
        return self._record

    def get_details(self) -> dict[str, Any]:
        """Everything about the run in v1's ``get_details`` shape."""
        row = self._current()
        inputs, outputs = self._dataset_details()
        details: dict[str, Any] = {
            "runId": self._id,
            "displayName": self.display_name,
            "experiment": self._experiment.name,
            "target": row.target,
            "status": row.status,
            "createdTimeUtc": _utc(row.created_utc),
            "startTimeUtc": _utc(row.started_utc),
            "endTimeUtc": _utc(row.ended_utc),
            "properties": self.get_properties(),
            "tags": self.get_tags(),
            "inputDatasets": inputs,
            "outputDatasets": outputs,
            "runDefinition": dict(row.definition),
            "logFiles": {DRIVER_LOG: str(self._ws.store.run_folder(self._id).driver_log)}
            if self._ws.store.log_size(self._id) is not None
            else {},
            "submittedBy": os.environ.get("USER", ""),
        }
        if row.exit_code is not None:
            details["exitCode"] = row.exit_code
        if row.error:
            details["error"] = {"error": dict(row.error)}
        return details

    # ending -----------------------------------------------------------------------------------
    def start(self) -> None:
        """Mark the run Running (v1 name; runs made here start Running already)."""
        self._ws.store.set_status(self._id, RunStatus.RUNNING)
        self.refresh()

    def _finish(self, status: str, error: dict[str, Any] | None = None) -> None:
        from .finalize import finalize_run

        finalize_run(self._ws, self._id, status, error=error, outputs_dir=self._outputs_dir)

    def complete(self, _set_status: bool = True) -> None:
        """Mark the run Completed (a submitted script's run is ended by its supervisor)."""
        if self._managed:
            return
        self._finish(RunStatus.COMPLETED)
        self.refresh()  # the end may differ from what was asked (finalizing can fail)

    def fail(
        self, error_details: Any = None, error_code: str | None = None, _set_status: bool = True
    ) -> None:
        """Mark the run Failed with an error message and code."""
        message = str(error_details) if error_details is not None else "Run failed"
        error = {"code": error_code or "UserError", "message": message}
        self._say(f"Run failed with error code {error_code}:\n{error_details}")
        if self._managed:
            # The supervisor reads this when the script exits and ends the run Failed.
            self._ws.store.update_run(self._id, error=error)
            return
        self._finish(RunStatus.FAILED, error)
        self.refresh()

    def cancel(self) -> None:
        """Cancel the run: its whole process tree is stopped and it ends Canceled.

        A submitted run is stopped by the target that runs it (see
        :mod:`aml_jupyter.tracking.targets`); one run in this process ends here.
        """
        record = self._ws.store.get_run(self._id)  # as stored: a dead owner is the target's
        if record.status in RunStatus.TERMINAL:
            self._record = record
            return
        if record.run_type not in SUBMITTED_RUN_TYPES or self._managed:
            self._finish(RunStatus.CANCELED)
        else:
            targets.cancel(self._ws, record)
        self.refresh()

    def __enter__(self) -> Run:
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc is None:
            self.complete()
        elif isinstance(exc, KeyboardInterrupt):
            self.cancel()
            self.refresh()
        else:
            self.fail(f"{exc_type.__name__}: {exc}", error_code="UserError")

    # models -----------------------------------------------------------------------------------
    def register_model(
        self,
        model_name: str,
        model_path: str = "outputs/model.pkl",
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        description: str | None = None,
        datasets: Any = None,
        **_: Any,
    ) -> Any:
        """Register a file or folder among this run's files as the next version of
        ``model_name``, keeping the lineage (this run, its experiment, its git commit, and
        ``datasets=[('training', ds)]`` as v1: ``model.datasets``)."""
        model = plugins.load("model")  # the registry is a higher layer (see tracking.plugins)
        return model._from_run(
            self,
            model_name,
            model_path,
            tags,
            properties,
            description,
            model_framework,
            model_framework_version,
            datasets,
        )

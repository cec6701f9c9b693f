"""Compute targets: where a submitted run executes.

``local`` is always there. ``ComputeInstance.attach`` adds a workstation running the ``aml``
agent; ``ComputeCluster.attach`` adds a Ray cluster. ``ComputeTarget(ws, name)`` (or
``ws.compute_targets[name]``) gives the right kind back, as in v1, and raises
``ComputeTargetException`` for a name it does not know. ``ComputeTarget.create(ws, name,
AmlCompute.provisioning_configuration(...))`` (or ``ComputeInstance.provisioning_configuration``)
makes a target that this package starts and stops itself: a Ray head, an agent.
"""

from __future__ import annotations

import builtins
import importlib
import re
from typing import TYPE_CHECKING, Any

from ..errors import AmlError, ComputeTargetException
from .compute_status import ComputeStatus

if TYPE_CHECKING:
    from ..snapshot.snapshot import Snapshot
    from ..store.types import ComputeTargetRecord
    from ..tracking.experiment import Experiment
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace
    from .config import ScriptRunConfig

#: Target names as v1 allows them: a letter, then letters, digits or hyphens.
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9-]{1,31}$")


#: The class of each kind of target by module path, imported when first asked for: those
#: modules import this one for their base class (a table, so the two do not import each other).
_KINDS = {
    "ComputeInstance": "aml_jupyter.compute.instance.target:ComputeInstance",
    "ComputeCluster": "aml_jupyter.compute.cluster.target:ComputeCluster",
    "AmlCompute": "aml_jupyter.compute.cluster.aml_compute:AmlCompute",
}


def _kind_class(kind: str) -> type[ComputeTarget]:
    where = _KINDS.get(kind)
    if where is None:
        return ComputeTarget
    module, _, name = where.partition(":")
    found: type[ComputeTarget] = getattr(importlib.import_module(module), name)
    return found


class ComputeTarget:
    """A named place to run: ``ComputeTarget(ws, 'local')`` or ``ws.compute_targets['local']``."""

    def __new__(cls, workspace: Workspace, name: str) -> ComputeTarget:
        row = _target_row(workspace, name)
        kind = _kind_class(row.type)
        if not issubclass(kind, cls):  # AmlCompute(ws, name) of a compute instance
            raise ComputeTargetException(
                f"Compute target {name!r} is of type {row.type}, not {cls.__name__}: use "
                f"ComputeTarget(workspace=ws, name={name!r}) to get it as what it is."
            )
        return super().__new__(kind)

    def __init__(self, workspace: Workspace, name: str) -> None:
        row = _target_row(workspace, name)
        self.workspace = workspace
        self.name = name
        self.type: str = row.type
        self.config: dict[str, Any] = dict(row.config)

    @classmethod
    def _from_record(cls, workspace: Workspace, row: ComputeTargetRecord) -> ComputeTarget:
        return ComputeTarget(workspace, row.name)

    @staticmethod
    def list(workspace: Workspace) -> list[ComputeTarget]:
        """Every compute target of the workspace."""
        return list(workspace.compute_targets.values())

    @staticmethod
    def create(workspace: Workspace, name: str, provisioning_configuration: Any) -> ComputeTarget:
        """Make a new target from ``AmlCompute.provisioning_configuration(...)`` or
        ``ComputeInstance.provisioning_configuration(...)``, as v1; a name in use is refused
        (``ComputeTarget(workspace=ws, name=name)`` gets that one)."""
        make = getattr(provisioning_configuration, "_create", None)
        if make is None:
            raise ComputeTargetException(
                "provisioning_configuration must come from AmlCompute.provisioning_configuration() "
                f"or ComputeInstance.provisioning_configuration(), got {provisioning_configuration!r}."
            )
        check_target_name(name)
        if any(r.name == name for r in workspace.store.compute_targets()):
            raise ComputeTargetException(
                f"A compute target named {name!r} exists already: get it with "
                f"ComputeTarget(workspace=ws, name={name!r}), or delete() it first."
            )
        target: ComputeTarget = make(workspace, name)
        return target

    def get_status(self) -> str:
        """``Succeeded``: the local target is always ready."""
        return ComputeStatus("Succeeded", provisioning_state="Succeeded")

    def wait_for_completion(self, show_output: bool = False, **_: Any) -> None:
        """v1's wait for provisioning: an attached target is ready as it is."""
        if show_output:
            print(f"{self.name}: {self.get_status()}")

    #: The process that owns a run of this target here, started at submit: the supervisor
    #: runs a local run; a remote target's mirror follows its run (compute/remote.py).
    _owner_module = "aml_jupyter.compute.local.supervisor"

    def submit(
        self,
        experiment: Experiment,
        config: ScriptRunConfig,
        tags: dict[str, Any] | None = None,
        parent_id: str | None = None,
    ) -> Run:
        """Start ``config`` as a new run of ``experiment`` on this target (a child of run
        ``parent_id`` when given); see :mod:`aml_jupyter.compute.submission`."""
        if type(self) is ComputeTarget and self.type != "local":
            raise AmlError(
                f"Compute target {self.name!r} has type {self.type!r}, which this version "
                "cannot run."
            )
        from .submission import submit

        return submit(self, experiment, config, tags, parent_id)

    # What differs between targets in a submit (the sequence is compute/submission.py).
    def _check(self, definition: dict[str, Any]) -> None:
        """Refuse a definition this target cannot run, before anything is started."""
        from .local.target import check_local

        check_local(self.workspace, definition)

    def _active_runs(self) -> builtins.list[Any]:
        """The records of this target's runs that are really still active (a run whose owner
        died is ended first, by tracking's liveness check)."""
        from ..status import RunStatus
        from ..tracking.targets import check_active_runs

        rows = [
            r
            for r in self.workspace.store.list_runs(status=RunStatus.ACTIVE, limit=1000)
            if r.target == self.name
        ]
        return [r for r in check_active_runs(self.workspace, rows) if r.status in RunStatus.ACTIVE]

    def _prepare(self, snapshot: Snapshot, definition: dict[str, Any]) -> None:
        """Take the snapshot to where the run executes (local runs read the store)."""

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        """Start the run where it executes, before it is recorded here (a refusal leaves no
        run); a local run starts when its supervisor gets the run id."""

    def detach(self) -> None:
        """Forget this target (the machine or cluster itself is left alone). Refused while
        runs on it are active: they report through it."""
        from ..status import RunStatus
        from ..tracking.targets import check_active_runs

        if self.type == "local":
            raise AmlError("The 'local' compute target is always there; it cannot be detached.")
        records = self.workspace.store
        active = [
            r.id
            for r in check_active_runs(
                self.workspace, records.list_runs(status=RunStatus.ACTIVE, limit=1000)
            )
            if r.target == self.name and r.status in RunStatus.ACTIVE
        ]
        if active:
            raise AmlError(
                f"Compute target {self.name!r} has {len(active)} active run(s) "
                f"({', '.join(active[:3])}); wait for them or cancel them, then detach."
            )
        records.detach_compute_target(self.name)
        secret = self.workspace.folder / "compute" / f"{self.name}.token"
        secret.unlink(missing_ok=True)

    delete = detach

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, type={self.type!r})"


def _target_row(workspace: Workspace, name: str) -> ComputeTargetRecord:
    rows = {r.name: r for r in workspace.store.compute_targets()}
    if name not in rows:
        raise ComputeTargetException(
            f"Unknown compute target {name!r} (ComputeTargetNotFound). Known targets: "
            f"{', '.join(sorted(rows))}. Create one with ComputeTarget.create(ws, "
            f"{name!r}, AmlCompute.provisioning_configuration(...)), or attach one with "
            "ComputeCluster.attach / ComputeInstance.attach (or `aml compute attach`)."
        )
    return rows[name]


def check_target_name(name: Any) -> str:
    """A new target's name, or a clear error."""
    if not isinstance(name, str) or not _NAME.match(name) or name == "local":
        raise AmlError(
            f"Compute target name {name!r} is not allowed: use 2-32 letters, digits or hyphens, "
            "starting with a letter (and not 'local')."
        )
    return name


__all__ = ["ComputeStatus", "ComputeTarget", "ComputeTargetException", "check_target_name"]

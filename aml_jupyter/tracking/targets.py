"""What tracking needs from the compute target that runs a run: to cancel it, and to tell
whether an active run's owner process still lives.

The store only records what targets report; liveness (pids, heartbeats) belongs to the target
that started the process. So ``run.cancel()`` goes through the run's target, and every read
of a run that is still active (``get_status()``, listings) asks that target to look at it: a
run whose supervisor was killed ends Failed with the reason instead of staying Running.
Ended runs cost nothing here (no statement, no process check).

Tracking may not import compute (a higher layer): each kind's handler is found through the
plugin table (:mod:`.plugins`, names ``target.<kind>``: ``target.local``,
``target.ComputeInstance``, ``target.ComputeCluster``), imported on first use and cached. A
run whose target is unknown (detached, or another kind) is looked after as a local one: its
owner is a process on this machine (a supervisor or the mirror of a remote run).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from ..status import RunStatus
from . import plugins

if TYPE_CHECKING:
    from ..store.types import RunRecord
    from .workspace import Workspace

log = logging.getLogger(__name__)
LOCAL = "local"
#: ``{(workspace folder, target name): kind}`` as last read.
_kind_of: dict[tuple[Path, str], str] = {}


class TargetHandler(Protocol):
    """How one kind of compute target looks after the runs it started."""

    def cancel(self, ws: Workspace, record: RunRecord) -> None:
        """Stop the run: it ends Canceled, at once or once its owner has stopped it."""

    def end_orphans(self, ws: Workspace, records: Sequence[RunRecord]) -> set[str]:
        """End those of these active runs whose owner died (Failed with the reason, or
        Canceled when a cancel was asked for); the ids of the runs it ended."""

    def claim_owner(self, ws: Workspace, run_id: str, pid: int) -> None:
        """Record the process ``pid`` (on this machine) as the run's owner."""


def handler(kind: str) -> TargetHandler:
    """The handler of compute target kind ``kind`` (the local one for an unknown kind)."""
    name = f"target.{kind}"
    if name not in plugins.names("target."):
        name = f"target.{LOCAL}"
    found: TargetHandler = plugins.load(name)
    return found


def _kinds(ws: Workspace, records: Sequence[RunRecord]) -> dict[str, str]:
    """``{run id: kind of its target}``; reads the targets only for a name not seen before
    (a target with active runs cannot be detached, so its kind stays)."""
    named = {r.target for r in records if r.target not in (None, LOCAL)}
    if any((ws.folder, name) not in _kind_of for name in named):
        for t in ws.store.compute_targets():
            _kind_of[(ws.folder, t.name)] = t.type
    return {r.id: _kind_of.get((ws.folder, r.target or LOCAL), LOCAL) for r in records}


def cancel(ws: Workspace, record: RunRecord) -> None:
    """Cancel a submitted run through the target that runs it."""
    handler(_kinds(ws, [record])[record.id]).cancel(ws, record)


def claim_this_process(ws: Workspace, run_id: str) -> None:
    """This process owns ``run_id`` (an interactive or in-process child run): if it dies,
    the run ends Failed with the reason."""
    handler(LOCAL).claim_owner(ws, run_id, os.getpid())


def check_active_runs(ws: Workspace, records: Sequence[RunRecord]) -> list[RunRecord]:
    """``records`` as they are after their targets looked at the active ones: a run whose
    owner died comes back ended. Ended runs are not looked at (no statement at all when
    none is active); a failure here is logged, never raised into the reader."""
    active = [r for r in records if r.status in RunStatus.ACTIVE]
    if not active:
        return list(records)
    ended: set[str] = set()
    try:
        kinds = _kinds(ws, active)
        for kind in sorted(set(kinds.values())):
            group = [r for r in active if kinds[r.id] == kind]
            ended |= handler(kind).end_orphans(ws, group)
    except Exception:  # a reader never fails because of someone else's run
        log.exception("could not check the owners of %d active run(s)", len(active))
    if not ended:
        return list(records)
    return [ws.store.get_run(r.id) if r.id in ended else r for r in records]


def check_active_run(ws: Workspace, record: RunRecord) -> RunRecord:
    """:func:`check_active_runs` for one run."""
    return check_active_runs(ws, [record])[0]


__all__ = [
    "TargetHandler",
    "cancel",
    "check_active_run",
    "check_active_runs",
    "claim_this_process",
    "handler",
]

"""Who owns a run on this machine, whether it still lives, and ending the runs it left.

A run's owner is the process that ends it: the supervisor of a local run, the mirror of a
run on a compute instance or a cluster, the notebook of an interactive run. It records
itself (pid, start time, host: :func:`claim_owner`) and touches the run's heartbeat file.
When it dies without ending the run (killed, the machine restarted), whoever reads the run
next notices (:meth:`LocalTarget.end_orphans`, called by tracking for active runs only) and
ends it Failed with the reason, its script's process group stopped and its metrics kept.
The store only records what this reports.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ...status import RunStatus
from . import liveness

if TYPE_CHECKING:
    from ...store.run_folder import RunFolder
    from ...store.types import RunRecord
    from ...tracking.workspace import Workspace

#: A run whose owner has not touched its heartbeat file for this long is declared dead.
HEARTBEAT_TIMEOUT_S = 30.0

log = logging.getLogger(__name__)
_unburied: set[str] = set()  # runs whose end failed, said once each


def heartbeat(folder: RunFolder) -> None:
    """Touch the run's heartbeat file: 'my owner is alive'."""
    path = folder.heartbeat
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()


def claim_owner(ws: Workspace, run_id: str, pid: int) -> None:
    """Record the process ``pid`` here as the run's owner, for the liveness checks."""
    started = liveness.process_start_time(pid) or None
    ws.store.update_run(run_id, pid=pid, pid_started=started, host=liveness.HOST)


def death_reason(ws: Workspace, record: RunRecord, now: float) -> str | None:
    """Why an active run's owner is known to be gone, or None while it lives (or may)."""
    alive = liveness.is_alive(record.pid, record.pid_started, record.host)
    if alive is False:
        return (
            f"The process that ran this run (pid {record.pid}) ended without finishing it "
            "(killed, or the machine restarted)."
        )
    if alive is None and record.pid:  # an owner on another host: its heartbeat tells
        try:
            last = ws.store.run_folder(record.id).heartbeat.stat().st_mtime
        except FileNotFoundError:
            last = record.created_utc
        if now - last > HEARTBEAT_TIMEOUT_S:
            return f"No heartbeat from the run's supervisor for {now - last:.0f} s."
    return None


def end_orphan(ws: Workspace, record: RunRecord, reason: str) -> None:
    """End a run whose owner died: Failed with the reason (Canceled when a cancel was asked
    for), its script stopped, its metrics kept, its sealed secrets (if any) deleted.

    Only bounded work happens here (it runs inside someone else's read): the summary of a
    big run's metrics is taken from the files' tails.
    """
    store = ws.store
    try:
        store.summarize_metrics(record.id, final=False)  # bounded: a big run's from the tails
    except Exception:  # the status below matters more than the summary
        log.exception("could not summarize the metrics of run %s", record.id)
    if record.status == RunStatus.CANCEL_REQUESTED:
        store.set_status(record.id, RunStatus.CANCELED)  # what was asked for, and got
    else:
        store.set_status(
            record.id, RunStatus.FAILED, error={"message": reason, "code": "OwnerDied"}
        )
    from .sealed_secrets import drop_token

    drop_token(ws.store.run_folder(record.id))  # a remote run's sealed secrets: their run ended
    child = record.child_pid
    if child and record.host == liveness.HOST:
        try:
            if os.getpgid(child) == child:  # still the script's own process group
                os.killpg(child, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class LocalTarget:
    """The ``local`` target's side of :class:`aml_jupyter.tracking.targets.TargetHandler`:
    its runs' owners are processes here (a supervisor, a mirror, a notebook)."""

    def claim_owner(self, ws: Workspace, run_id: str, pid: int) -> None:
        claim_owner(ws, run_id, pid)

    def end_orphans(self, ws: Workspace, records: Sequence[RunRecord]) -> set[str]:
        now, ended = time.time(), set()
        for record in records:
            # A reader must never fail because of someone else's run: whatever goes wrong
            # here is logged and the run is looked at again on the next read.
            try:
                reason = death_reason(ws, record, now)
                if reason:
                    end_orphan(ws, record, reason)
                    ended.add(record.id)
            except Exception:
                if record.id not in _unburied:  # say it once, not on every read
                    _unburied.add(record.id)
                    log.exception("could not end run %s, whose owner died", record.id)
        return ended

    def cancel(self, ws: Workspace, record: RunRecord) -> None:
        """Ask the owner to stop the run (SIGTERM: it stops the script and ends the run
        Canceled); an owner found dead is :meth:`owner_gone_at_cancel`'s."""
        alive = liveness.is_alive(record.pid, record.pid_started, record.host)
        if alive is False:
            self.owner_gone_at_cancel(ws, record)
            return
        ws.store.set_status(record.id, RunStatus.CANCEL_REQUESTED)
        if record.pid is None:  # nobody owns it (its submit never finished): end it here
            from ...tracking.finalize import finalize_run

            finalize_run(ws, record.id, RunStatus.CANCELED)
        elif alive and record.status in (RunStatus.NOT_STARTED, RunStatus.QUEUED):
            # Its supervisor may still be starting, before it handles SIGTERM: it looks for
            # the request itself before the script starts.
            return
        elif alive:
            try:
                os.kill(record.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        # else: an owner on another host sees CancelRequested on its next heartbeat

    def owner_gone_at_cancel(self, ws: Workspace, record: RunRecord) -> None:
        """The owner died before the cancel: the run ends as any orphan does (Failed with
        the reason, its script's processes stopped)."""
        reason = death_reason(ws, record, time.time())
        end_orphan(ws, record, reason or "The run's owner process is gone.")


#: The handler tracking finds through its plugin table (``target.local``).
LOCAL = LocalTarget()


def owner_main(
    argv: list[str] | None,
    log_name: str,
    own: Callable[[Workspace, str], Any],
    failed: str,
    error_type: str,
) -> int:
    """The entry point of a run's owner process: ``WORKSPACE [RUN_ID]``.

    Without RUN_ID it is read from stdin: a submitter starts the owner early and sends the id
    once the run is recorded; stdin closing with no id means the submit failed, and the owner
    leaves quietly. ``own(ws, run_id)`` does the work, logging to the run's system log
    ``log_name``; whatever it raises ends the run Failed (``failed``: the message's start), so
    a run never stays looking alive.
    """
    from ...tracking.workspace import Workspace
    from .process_log import log_to

    args = argv if argv is not None else sys.argv[1:]
    ws = Workspace(args[0])  # opened while the submitter may still be snapshotting
    run_id = args[1] if len(args) > 1 else sys.stdin.readline().strip()
    if not run_id:
        return 0
    log_to(ws.store.run_folder(run_id).system_log(log_name))
    try:
        own(ws, run_id)
    except Exception as exc:  # last resort
        traceback.print_exc()
        from ...tracking.finalize import end_failed  # only now: the owner starts faster

        end_failed(ws, run_id, exc, failed, error_type)
    return 0

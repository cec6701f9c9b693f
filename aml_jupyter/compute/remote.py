"""The mirror of a run that executes elsewhere: ``python -m aml_jupyter.compute.remote WS``.

Started detached at submit (like the local supervisor, so a closed notebook changes nothing),
it owns the run record and heartbeat here and pulls the remote run into this workspace:
status, then the run folder's growing files (driver log, metrics, ./logs) into the same
places a local run writes them, so every reader (``aml run logs -f``, widgets, the sidebar,
TensorBoard) works unchanged. When the remote run ends, its stored files (./outputs) are
fetched and the run is finalized exactly as a local one. ``run.cancel()`` reaches us as
SIGTERM (or a CancelRequested status) and is passed on.

Each kind of target gives a :class:`Remote` (``target._remote(run_id)``); contact lost for
longer than ``AML_REMOTE_TIMEOUT_SECONDS`` (default 120) ends the run Failed with the reason.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from ..errors import AmlError
from ..paths import checked_relative_name
from ..status import RunStatus
from ..tracking.finalize import finalize_run
from ..tracking.workspace import Workspace
from .local.owner import LocalTarget, claim_owner, heartbeat, owner_main

if TYPE_CHECKING:
    from ..store.run_folder import RunFolder
    from ..store.types import RunRecord

log = logging.getLogger(__name__)
POLL_S = 0.25
LOST_AFTER_S = float(os.environ.get("AML_REMOTE_TIMEOUT_SECONDS", "120"))
#: Statuses a remote run reports that we copy as they are (Finalizing is ours to set).
_COPIED = {RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING}
_BEFORE_RUNNING = {RunStatus.NOT_STARTED, RunStatus.QUEUED, RunStatus.PREPARING, RunStatus.STARTING}


class RemoteGone(AmlError):
    """The remote side no longer has the run (or refuses us): it ends Failed with this."""


class RemoteUnreachable(AmlError):
    """No answer this time; tried again until ``LOST_AFTER_S``."""


class RemoteState(NamedTuple):
    """What the remote side says about the run (a named tuple: the mirror imports this as
    it starts, and ``dataclasses`` would cost it ~10 ms)."""

    status: str
    error: dict[str, Any] | None = None
    exit_code: int | None = None
    tags: Mapping[str, Any] = MappingProxyType({})
    properties: Mapping[str, Any] = MappingProxyType({})


class Remote(Protocol):
    """How one kind of target is followed. One may also have ``after_end()``: called once the
    run is finalized here, to tidy the remote side (the mirror exits after it)."""

    where: str
    #: Seconds to wait between syncs (0 when ``sync`` itself waits for news: a long poll).
    pause: float

    def sync(self, folder: RunFolder) -> RemoteState:
        """Append what the run folder gained there to ``folder`` here; the run's state."""

    def cancel(self) -> None:
        """Ask the remote side to stop the run."""

    def collect(self, ws: Workspace, run_id: str) -> None:
        """After the end: store the run's remaining files (./outputs) here."""


def append_chunk(
    root: Path, name: str, data: bytes, allowed: tuple[str, ...], where: str = "remote side"
) -> None:
    """Append remote bytes to a mirrored file under ``root`` (a run folder's), refusing names
    outside ``allowed`` folders."""
    try:
        clean = checked_relative_name(name, "file name")
    except AmlError as exc:  # RemoteGone: the run ends Failed, saying so
        raise RemoteGone(f"The {where} sent an invalid file name: {exc}") from None
    if not any(clean.startswith(prefix + "/") for prefix in allowed):
        raise RemoteGone(f"The {where} sent a file outside the run's folders: {name!r}.")
    path = root / clean
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


def local_sizes(root: Path, folders: tuple[str, ...]) -> dict[str, int]:
    """``{relative path: size}`` of what has been mirrored under ``root`` so far (offsets to
    ask from)."""
    sizes = {}
    for folder in folders:
        for dirpath, _, names in os.walk(root / folder):
            for name in names:
                path = Path(dirpath) / name
                sizes[path.relative_to(root).as_posix()] = path.stat().st_size
    return sizes


class Mirror:
    """Follows one remote run to its end; never raises (a failure ends the run Failed)."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        self.ws = ws
        self.run_id = run_id
        self.folder = ws.store.run_folder(run_id)
        self.cancel_requested = threading.Event()

    def run(self) -> None:
        from . import ComputeTarget

        records = self.ws.store
        heartbeat(self.folder)
        signal.signal(signal.SIGTERM, lambda *_: self.cancel_requested.set())
        row = records.get_run(self.run_id)
        try:
            remote: Remote = ComputeTarget(self.ws, str(row.target))._remote(self.run_id)  # type: ignore[attr-defined]
        except AmlError as exc:
            self._fail("RemoteLost", f"Cannot follow the run: {exc}")
            return
        last_contact, cancel_sent, last_beat = time.monotonic(), False, time.monotonic()
        claimed = False
        while True:
            now = time.monotonic()
            if now - last_beat > 1.0:
                heartbeat(self.folder)
                last_beat = now
                if not claimed:
                    # The submitter recorded us as the owner already (record_run); saying so
                    # ourselves loads psutil, so it waits until the run is under way.
                    claimed = True
                    claim_owner(self.ws, self.run_id, os.getpid())
            local = records.get_run(self.run_id).status
            if local in RunStatus.TERMINAL:
                return  # ended here (e.g. a cancel before the remote side had started it)
            wants_cancel = self.cancel_requested.is_set() or local == RunStatus.CANCEL_REQUESTED
            try:
                if wants_cancel and not cancel_sent:
                    remote.cancel()
                    cancel_sent = True
                state = remote.sync(self.folder)
            except RemoteGone as exc:
                self._fail("RemoteLost", str(exc))
                return
            except RemoteUnreachable as exc:
                if time.monotonic() - last_contact > LOST_AFTER_S:
                    self._fail(
                        "RemoteLost",
                        f"Lost contact with {remote.where} for {LOST_AFTER_S:.0f} s ({exc}); "
                        "the run may still be going there.",
                    )
                    return
                time.sleep(min(2.0, POLL_S * 4))
                continue
            last_contact = time.monotonic()
            if state.status in RunStatus.TERMINAL:
                if state.exit_code is not None and local in _BEFORE_RUNNING:
                    # It ran, faster than a poll saw it running: its start is recorded too.
                    records.set_status(self.run_id, RunStatus.RUNNING)
                self._finish(remote, state)
                after_end = getattr(remote, "after_end", None)
                if after_end is not None:  # e.g. forget a job the remote side still holds
                    try:
                        after_end()
                    except AmlError as exc:
                        log.warning("after run %s ended: %s", self.run_id, exc)
                return
            if state.status in _COPIED and local not in (state.status, RunStatus.CANCEL_REQUESTED):
                records.set_status(self.run_id, state.status)
            time.sleep(remote.pause)

    def _finish(self, remote: Remote, state: RemoteState) -> None:
        records = self.ws.store
        if state.tags:
            records.set_tags(self.run_id, state.tags)
        if state.properties:
            records.add_properties(self.run_id, state.properties)
        try:
            remote.collect(self.ws, self.run_id)
        except AmlError as exc:
            error = {
                "code": "RemoteLost",
                "message": f"The run's files could not be fetched: {exc}",
            }
            finalize_run(self.ws, self.run_id, RunStatus.FAILED, error=error)
            return
        finalize_run(
            self.ws, self.run_id, state.status, error=state.error, exit_code=state.exit_code
        )

    def _fail(self, code: str, message: str) -> None:
        finalize_run(
            self.ws, self.run_id, RunStatus.FAILED, error={"code": code, "message": message}
        )


class RemoteTarget(LocalTarget):
    """How tracking looks after a run on a compute instance or a cluster (its handler): the
    run's owner here is its mirror, a local process, so liveness is checked as for a local
    run; a cancel that finds the mirror gone asks the remote side to stop the run itself."""

    def owner_gone_at_cancel(self, ws: Workspace, record: RunRecord) -> None:
        from . import ComputeTarget

        ws.store.set_status(record.id, RunStatus.CANCEL_REQUESTED)
        try:
            target: Any = ComputeTarget(ws, str(record.target))
            target._remote(record.id).cancel()
        except AmlError as exc:  # the run ends Canceled here all the same
            log.warning("could not ask %s to cancel run %s: %s", record.target, record.id, exc)
        finalize_run(ws, record.id, RunStatus.CANCELED)


#: The handler tracking finds through its plugin table (``target.ComputeInstance``,
#: ``target.ComputeCluster``).
REMOTE = RemoteTarget()


def _follow(ws: Workspace, run_id: str) -> None:
    Mirror(ws, run_id).run()


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``remote WORKSPACE [RUN_ID]`` (see :func:`.local.owner.owner_main`)."""
    return owner_main(argv, "mirror.log", _follow, "Following the remote run failed", "MirrorError")


if __name__ == "__main__":
    # Run the module under its real name: the targets raise *its* RemoteGone/RemoteUnreachable,
    # which this __main__ copy's classes would not catch.
    from aml_jupyter.compute import remote

    sys.exit(remote.main())

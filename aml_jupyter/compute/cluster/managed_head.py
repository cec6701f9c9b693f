"""The Ray head an ``AmlCompute`` target runs on when no Ray address is configured.

Started by the first submit (or ``wait_for_completion`` with ``min_nodes`` > 0), found again by
every later process through a state file, and stopped by its idle watcher
(:mod:`.idle_watch`) once no run has used it for ``idle_seconds_before_scaledown`` — v1's
cluster scaling to zero — or by ``delete()``. The next submit starts it again.

Files, beside the other targets' files in the workspace's ``compute/`` folder:

- ``NAME.head.json``: the head's address, temp folder and process marker
  (:meth:`LocalRayHead.state`), and the watcher's pid and start time;
- ``NAME.used``: touched by every submit; the watcher counts idleness from its time, so a
  submit that has just found the head keeps it up while it uploads and submits its job;
- ``NAME.lock``: held while the head is started or stopped (one head a target, and no stop in
  the middle of a submit's check);
- ``NAME.head.log``: the watcher's log (what it stopped, and why).

Who watches: a small process started with the head, rather than the submit path. Only a
process that outlives the notebook can stop an idle head (v1's cluster scaled down with every
notebook closed); it is stopped by pid, and ``delete()`` stops the head even if the watcher
is gone (its processes are found by their marker).
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ...errors import AmlError, ComputeTargetException
from ..local.liveness import HOST, is_alive, process_start_time
from ..local.processes import reap_later, stop_tree
from ..remote import RemoteUnreachable

#: Starts of ``ray start --head`` (each tried twice by LocalRayNode) before giving up.
START_TRIES = 2
#: Ray prestarts a worker process per CPU once a driver connects: a head with
#: ``vm cpus x max_nodes`` logical CPUs on a small machine would start dozens.
NO_PRESTART = {"RAY_enable_worker_prestart": "0", "RAY_prestart_worker_first_driver": "0"}


class HeadFiles:
    """The files of one target's managed head (see the module docstring)."""

    def __init__(self, ws_folder: Path, name: str) -> None:
        folder = Path(ws_folder) / "compute"
        self.folder = folder
        self.state = folder / f"{name}.head.json"
        self.used = folder / f"{name}.used"
        self.lock_file = folder / f"{name}.lock"
        self.log = folder / f"{name}.head.log"

    @contextmanager
    def lock(self) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.lock_file, "a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def read(self) -> dict[str, Any] | None:
        try:
            state = json.loads(self.state.read_text())
        except (OSError, ValueError):
            return None
        return state if isinstance(state, dict) and state.get("marker") else None

    def write(self, state: dict[str, Any]) -> None:
        partial = self.state.with_suffix(".partial")
        partial.write_text(json.dumps(state))
        partial.replace(self.state)

    def touch(self) -> None:
        """Mark the head as used now (a submit is under way)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.used.touch()

    def last_used(self) -> float:
        try:
            return self.used.stat().st_mtime
        except OSError:
            return 0.0


def head_answers(address: str | None) -> bool:
    """Whether a Ray head answers its job API at ``address`` (within a few seconds)."""
    if not address:
        return False
    from .jobs_api import RayJobs

    try:
        RayJobs(address, timeout=5.0).version()
    except (RemoteUnreachable, AmlError):
        return False
    return True


def watcher_alive(state: dict[str, Any]) -> bool:
    watcher = state.get("watcher") or {}
    return bool(is_alive(watcher.get("pid"), watcher.get("started"), HOST))


def ensure_head(ws_folder: Path, name: str, num_cpus: int, note: str = "") -> str:
    """The job address of target ``name``'s head: the running one, or one started now (with
    its watcher). ``note`` is said when a head is started (it takes 10-30 s)."""
    from .ray_local import LocalRayHead

    files = HeadFiles(ws_folder, name)
    with files.lock():
        files.touch()
        state = files.read()
        if state is not None and head_answers(state.get("address")):
            if not watcher_alive(state):
                state["watcher"] = _start_watcher(files, ws_folder, name)
                files.write(state)
            return str(state["address"])
        if state is not None:  # a head that died, or half stopped: what is left of it
            _stop(files, state)
        print(
            f"Starting the Ray head of compute target {name!r} on this machine{note} "
            "(10-30 s; it stops again when idle)...",
            flush=True,
        )
        address = ""
        for attempt in range(START_TRIES):  # a loaded machine can miss Ray's fixed 30 s waits
            head = LocalRayHead(num_cpus=num_cpus)
            head.extra_env.update(NO_PRESTART)
            # Recorded before it starts: a start interrupted (Ctrl-C) or killed leaves
            # processes the next ensure_head or delete() finds by their marker and stops.
            files.write({**head.state(), "num_cpus": num_cpus})
            try:
                address = head.start()
                break
            except BaseException as exc:
                head.stop()
                files.state.unlink(missing_ok=True)
                if not isinstance(exc, AmlError):
                    raise
                if attempt == START_TRIES - 1:
                    raise ComputeTargetException(
                        f"The Ray head of {name!r} did not start: {exc}"
                    ) from None
        state = {**head.state(), "num_cpus": num_cpus, "started_utc": time.time()}
        files.write(state)
        try:
            state["watcher"] = _start_watcher(files, ws_folder, name)
        except BaseException:
            _stop(files, state)
            raise
        files.write(state)
        files.touch()
        return address


def running_head(ws_folder: Path, name: str) -> dict[str, Any] | None:
    """The state of target ``name``'s head if one is recorded (it may have died since)."""
    return HeadFiles(ws_folder, name).read()


def stop_head(ws_folder: Path, name: str) -> bool:
    """Stop target ``name``'s head and watcher (by pid), if any; whether one was recorded."""
    files = HeadFiles(ws_folder, name)
    with files.lock():
        state = files.read()
        if state is None:
            return False
        _stop(files, state)
        return True


def head_pids(state: dict[str, Any]) -> list[int]:
    """Every process of a recorded head, its watcher included (for tests and status)."""
    from .ray_local import LocalRayHead

    pids = LocalRayHead.reattach(state).pids()
    if watcher_alive(state):
        pids.append(int(state["watcher"]["pid"]))
    return pids


def _stop(files: HeadFiles, state: dict[str, Any], watcher: bool = True) -> None:
    """Under the lock: stop the watcher (unless it is the caller), then the head; forget it."""
    from .ray_local import LocalRayHead

    info = state.get("watcher") or {}
    if watcher and info.get("pid") and info.get("pid") != os.getpid():
        stop_tree(int(info["pid"]), grace=5.0, started=info.get("started"))
    LocalRayHead.reattach(state).stop()
    files.state.unlink(missing_ok=True)


def _start_watcher(files: HeadFiles, ws_folder: Path, name: str) -> dict[str, Any]:
    """Start the idle watcher detached (its own session: a kernel restart leaves it)."""
    with open(files.log, "ab") as log:
        try:
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "aml_jupyter.compute.cluster.idle_watch",
                    str(ws_folder),
                    name,
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ComputeTargetException(
                f"Could not start the idle watcher of {name!r}: {exc}"
            ) from None
    reap_later(proc, "aml-reap-watcher")
    return {"pid": proc.pid, "started": process_start_time(proc.pid)}


__all__ = [
    "NO_PRESTART",
    "HeadFiles",
    "ensure_head",
    "head_answers",
    "head_pids",
    "running_head",
    "stop_head",
]

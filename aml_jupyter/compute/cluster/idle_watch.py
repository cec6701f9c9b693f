"""The idle watcher of a managed Ray head: ``python -m aml_jupyter.compute.cluster.idle_watch WS NAME``.

Started with the head (:mod:`.managed_head`). It looks every few seconds whether the head
is busy — a Ray job pending or running, or a run of this target active in the workspace (its
mirror may still be collecting outputs) — and stops the head once it has been idle for the
target's ``idle_seconds_before_scaledown`` (read from the workspace each time, so
``update()`` applies at once; ``min_nodes`` > 0 keeps it up). Idleness counts from the last
busy look or the last submit (``NAME.used``), whichever is later, and the stop happens under
the head's lock after a last look, so a submit that has just found the head is not cut off.

It also ends when the head dies by itself (three looks without an answer: what is left of it
is stopped), when its target is deleted, or when another process stopped or replaced the
head. It writes one line per decision to ``NAME.head.log``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from ...status import RunStatus
from ...tracking.targets import check_active_runs
from ...tracking.workspace import Workspace
from .managed_head import HeadFiles, _stop

#: Looks a dead head may miss before the watcher cleans up after it.
MISSES = 3
_RAY_BUSY = {"PENDING", "RUNNING"}


def _say(message: str) -> None:
    print(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {message}", flush=True)


def busy(ws: Workspace, name: str, address: str) -> bool | None:
    """Whether the head has work (None: it does not answer)."""
    from .jobs_api import RayJobs

    try:
        jobs = RayJobs(address, timeout=5.0).jobs()
    except Exception:  # RemoteUnreachable, or a head half stopped answering garbage
        return None
    if any(job.get("status") in _RAY_BUSY for job in jobs):
        return True
    active = [
        r for r in ws.store.list_runs(status=RunStatus.ACTIVE, limit=1000) if r.target == name
    ]
    return any(r.status in RunStatus.ACTIVE for r in check_active_runs(ws, active))


def _config(ws: Workspace, name: str) -> dict[str, Any] | None:
    for record in ws.store.compute_targets():
        if record.name == name:
            return dict(record.config)
    return None


def watch(ws_folder: Path, name: str) -> str:
    """Watch until the head is stopped; returns why it ended."""
    files = HeadFiles(ws_folder, name)
    first = files.read()
    if first is None:
        return "no head is recorded"
    marker = first["marker"]
    ws = Workspace(ws_folder)
    last_busy, misses = time.time(), 0
    while True:
        config = _config(ws, name)
        if config is None:
            with files.lock():
                state = files.read()
                if state is not None and state["marker"] == marker:
                    _stop(files, state, watcher=False)
            return "its target was deleted: head stopped"
        idle_s = float(config.get("idle_seconds_before_scaledown", 1800))
        time.sleep(min(5.0, max(0.5, idle_s / 5)))
        state = files.read()
        if state is None or state["marker"] != marker:
            return "the head was stopped (or replaced) by another process"
        now_busy = busy(ws, name, str(state["address"]))
        if now_busy is None:
            misses += 1
            if misses >= MISSES:
                with files.lock():
                    if (files.read() or {}).get("marker") == marker:
                        _stop(files, state, watcher=False)
                return "the head stopped answering: what was left of it is stopped"
            continue
        misses = 0
        now = time.time()
        if now_busy:
            last_busy = now
        if int(config.get("min_nodes", 0)) > 0:
            continue
        if now - max(last_busy, files.last_used()) < idle_s:
            continue
        with files.lock():  # a last look, with no submit in its check meanwhile
            state = files.read()
            if state is None or state["marker"] != marker:
                return "the head was stopped (or replaced) by another process"
            if time.time() - files.last_used() < idle_s or busy(ws, name, str(state["address"])):
                last_busy = time.time()
                continue
            _stop(files, state, watcher=False)
        return f"idle for {idle_s:g} s: head stopped (scaled to zero)"


def main(argv: list[str]) -> int:
    ws_folder, name = Path(argv[0]), argv[1]
    _say(f"watching the Ray head of {name!r}")
    try:
        _say(watch(ws_folder, name))
    except Exception as exc:  # logged: nobody reads a detached process's traceback
        _say(f"the watcher failed: {type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

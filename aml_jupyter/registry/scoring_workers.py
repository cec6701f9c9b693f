"""The processes of a scoring service: its supervisor, and starting and stopping it from outside.

A service is one process group, its own session: the supervisor (the group's leader, whose pid
and start time are in the service folder's pid file) and the workers it forks. The supervisor
restarts a worker that ends, for as long as it lives itself, waiting :data:`BACKOFF_FIRST_S` at
first and twice as long each time the same worker ends again soon after its start (at most
:data:`BACKOFF_MAX_S`); a worker that stayed up :data:`STABLE_S` starts over from the short wait.
The one exception: a worker that fails to *start* (``init()`` raised, the port is taken) before
the service ever was ready ends the service, so ``Model.deploy`` reports that error at once.

A worker watches its parent: when the supervisor is gone (killed), the workers end too, and
``stop_group`` ends whatever is left of the group, checked by pid and start time so that a pid
reused by another program is never signalled.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from ..compute.local import processes
from ..compute.local.liveness import process_start_time
from ..errors import AmlError

#: The first wait before a worker that ended is started again; doubled while it keeps ending.
BACKOFF_FIRST_S = 0.1
BACKOFF_MAX_S = 5.0
#: A worker up this long ended for a new reason: its replacement gets the short wait again.
STABLE_S = 10.0
#: A worker's exit status when it could not start (the entry script's init() raised...).
START_FAILED = 3
#: Seconds from SIGTERM to SIGKILL when a service (or one of its workers) is stopped.
GRACE_S = 5.0


class _Slot:
    """One worker place: the process in it now and how long its next restart waits."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.pid = 0
        self.started = 0.0
        self.delay = 0.0  # 0: no recent failure
        self.due: float | None = None  # when to start it again, while empty


def _describe(status: int) -> str:
    code = os.waitstatus_to_exitcode(status)
    if code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exited with status {code}"


def supervise(
    workers: int, run_worker: Callable[[int], None], was_ready: Callable[[], bool]
) -> int:
    """Keep ``workers`` forked processes running ``run_worker(number)`` until SIGTERM (or
    SIGINT, SIGHUP), then end them; returns the supervisor's exit status.

    ``run_worker`` runs in the child and ends it with ``os._exit``; an exception there exits
    with :data:`START_FAILED`. ``was_ready()`` tells whether a worker was ever ready: until
    then, a start failure ends the service (status 1) instead of being retried.
    """
    # Signals arrive as bytes on a pipe, so one select() waits for a child's end, a stop
    # request or the next restart time alike, with no race between checking and waiting.
    wake_r, wake_w = os.pipe()
    for fd in (wake_r, wake_w):
        os.set_blocking(fd, False)
    stop: list[int] = []
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, _: stop.append(signum))
    slots = [_Slot(n) for n in range(1, workers + 1)]
    by_pid: dict[int, _Slot] = {}

    def start(slot: _Slot) -> None:
        pid = os.fork()
        if pid == 0:  # the worker: none of the supervisor's signal plumbing
            signal.set_wakeup_fd(-1)
            for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                signal.signal(sig, signal.SIG_DFL)
            os.close(wake_r)
            os.close(wake_w)
            try:
                run_worker(slot.number)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(START_FAILED)  # a forked worker never returns into the loop
        slot.pid, slot.started, slot.due = pid, time.monotonic(), None
        by_pid[pid] = slot

    for slot in slots:
        start(slot)
    status = 0
    while not stop:
        while by_pid:  # reap every worker that ended
            try:
                pid, wait_status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            ended = by_pid.pop(pid, None)
            if ended is None:
                continue
            ended.pid = 0
            if os.waitstatus_to_exitcode(wait_status) == START_FAILED and not was_ready():
                # Its error is the last thing in the log: the deployer shows that line.
                stop.append(0)
                status = 1
                break
            now = time.monotonic()
            up = now - ended.started
            ended.delay = (
                BACKOFF_FIRST_S
                if up >= STABLE_S
                else min(max(2 * ended.delay, BACKOFF_FIRST_S), BACKOFF_MAX_S)
            )
            ended.due = now + ended.delay
            print(
                f"worker {ended.number} (pid {pid}) {_describe(wait_status)} after {up:.1f} s; "
                f"restarting it in {ended.delay:.1f} s",
                flush=True,
            )
        if stop:
            break
        now = time.monotonic()
        for slot in slots:
            if slot.due is not None and slot.due <= now:
                start(slot)
        dues = [s.due for s in slots if s.due is not None]
        select.select([wake_r], [], [], max(0.0, min(dues) - now) if dues else None)
        try:
            os.read(wake_r, 512)
        except BlockingIOError:
            pass  # woken by the restart time, not a signal
    _end_workers(list(by_pid))
    return status


def _end_workers(pids: list[int]) -> None:
    """SIGTERM the workers, SIGKILL those still there after GRACE_S, reap them all."""
    processes.stop_children(pids, GRACE_S, kill_wait=float("inf"))  # a killed child ends


# from outside: start and stop the group -------------------------------------------------
def start_detached(argv: Sequence[str], log: Path, env: dict[str, str]) -> tuple[int, str]:
    """Start ``argv`` in its own session (so its own process group), output appended to
    ``log``; returns its pid and start time."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
        )
    threading.Thread(target=proc.wait, daemon=True).start()  # no zombie in a long kernel
    return proc.pid, process_start_time(proc.pid)


def stop_group(pid: int, started: str) -> None:
    """End the service's whole process group (SIGTERM, then SIGKILL after GRACE_S) and return
    once each of its processes, looked up by pid and start time, is gone."""
    left = processes.stop_group(pid, GRACE_S, started, kill_wait=GRACE_S)
    if left:
        raise AmlError(
            f"Processes {left} of the service did not end on SIGKILL (stuck in the kernel?); "
            "check them with ps and end them before deploying on the same port."
        )

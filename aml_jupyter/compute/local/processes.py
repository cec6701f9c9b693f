"""Stopping processes we started: SIGTERM, a grace period, SIGKILL for what is left, reaped.

One way for every part that ends processes (a run's script, a scoring service and its
workers, TensorBoard, a local Ray head): a whole process group (a session leader and all it
started, forked meanwhile or not), a process tree, or a list of processes. Processes are
looked up with psutil, by pid and start time, so a pid reused by another program is never
signalled; those of them that are our children are reaped, so none is left a zombie.
psutil is imported when first needed: :func:`escalate` and :func:`stop_children` use the
standard library only (a scoring service runs them in its environment's own Python).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from .liveness import start_token

if TYPE_CHECKING:
    import psutil

#: Seconds to wait for processes to vanish after SIGKILL before calling them stuck.
KILL_WAIT_S = 10.0
#: How often a wait looks again.
POLL_S = 0.02


def escalate(
    send: Callable[[int], None],
    gone: Callable[[float], bool],
    grace: float,
    kill_wait: float = KILL_WAIT_S,
) -> bool:
    """``send(SIGTERM)``, wait up to ``grace`` s for ``gone``, then ``send(SIGKILL)`` and wait
    up to ``kill_wait`` s; True once gone. ``send`` raising ProcessLookupError: nothing left.

    ``gone(seconds)`` waits at most that long and says whether the processes have ended.
    """
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, kill_wait)):
        try:
            send(sig)
        except ProcessLookupError:
            return True
        if gone(wait):
            return True
    return False


def group_members(pgid: int, started: str | None = None) -> list[psutil.Process]:
    """The live processes of group ``pgid`` (zombies do not count).

    With ``started`` (the leader's start token): none when the pid ``pgid`` now belongs to
    another program, as the group then ended before the pid was reused.
    """
    import psutil

    if started:
        try:
            if start_token(psutil.Process(pgid)) != started:
                return []
        except psutil.Error:
            pass  # the leader is gone (or unreadable); the processes it started may not be
    members = []
    for pid in psutil.pids():
        try:
            if pid <= 0 or os.getpgid(pid) != pgid:
                continue
            proc = psutil.Process(pid)
            if proc.status() != psutil.STATUS_ZOMBIE:
                members.append(proc)
        except (OSError, psutil.Error):
            continue  # ended while we looked
    return members


def stop_group(
    pgid: int, grace: float, started: str | None = None, kill_wait: float = KILL_WAIT_S
) -> list[int]:
    """End process group ``pgid``: SIGTERM to the group, SIGKILL after ``grace`` s to what
    is left, then reap; returns the pids still there after ``kill_wait`` s more (stuck in the
    kernel), normally none. ``started``: see :func:`group_members`.

    The group is signalled at once (``killpg``), so a process forked meanwhile gets it too.
    """
    seen: dict[int, psutil.Process] = {}

    def members() -> list[psutil.Process]:
        found = group_members(pgid, started)
        seen.update((p.pid, p) for p in found)
        return found

    def send(sig: int) -> None:
        if not members():
            raise ProcessLookupError(pgid)
        try:
            os.killpg(pgid, sig)
        except PermissionError:
            raise ProcessLookupError(pgid) from None  # not ours to stop

    def gone(wait: float) -> bool:
        deadline = time.monotonic() + wait
        while members():
            if time.monotonic() >= deadline:
                return False
            _reap(seen.values())
            time.sleep(POLL_S)
        return True

    try:
        if escalate(send, gone, grace, kill_wait):
            return []
        return [p.pid for p in members()]
    finally:
        _reap(seen.values())


def stop_children(pids: Iterable[int], grace: float, kill_wait: float = KILL_WAIT_S) -> set[int]:
    """SIGTERM our child processes ``pids``, SIGKILL those left after ``grace`` s, and reap
    them; returns those not reaped ``kill_wait`` s later. The standard library only."""
    left = set(pids)

    def send(sig: int) -> None:
        for pid in left:
            try:
                os.kill(pid, sig)  # not reaped yet: the pid is still this child's
            except ProcessLookupError:
                pass
        if not left:
            raise ProcessLookupError

    def gone(wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            for pid in list(left):
                try:
                    done, _ = os.waitpid(pid, os.WNOHANG)
                except ChildProcessError:
                    done = pid  # reaped already (or not ours)
                if done:
                    left.discard(pid)
            if not left or time.monotonic() >= deadline:
                return not left
            time.sleep(POLL_S)

    escalate(send, gone, grace, kill_wait)
    return left


def stop_processes(
    procs: Iterable[psutil.Process], grace: float, kill_wait: float = KILL_WAIT_S
) -> list[psutil.Process]:
    """SIGTERM each of ``procs``, SIGKILL those alive after ``grace`` s, reap our children
    among them; returns those still alive ``kill_wait`` s later (normally none)."""
    import psutil

    left = list(procs)

    def send(sig: int) -> None:
        for proc in left:
            try:
                proc.send_signal(sig)  # checks the pid still is this process first
            except psutil.Error:
                pass  # ended (or not ours)
        if not left:
            raise ProcessLookupError

    def gone(wait: float) -> bool:
        deadline = time.monotonic() + wait
        while left:
            # wait_procs reaps our children; a zombie that is not ours counts as ended.
            _, alive = psutil.wait_procs(left, timeout=POLL_S)
            left[:] = [p for p in alive if _running(p)]
            if time.monotonic() >= deadline:
                break
        return not left

    escalate(send, gone, grace, kill_wait)
    return left


def stop_tree(
    pid: int, grace: float, started: str | None = None, kill_wait: float = KILL_WAIT_S
) -> list[psutil.Process]:
    """End process ``pid`` and all its descendants as :func:`stop_processes` does; nothing
    when ``pid`` is gone or (with ``started``) now belongs to another program."""
    import psutil

    try:
        root = psutil.Process(pid)
        if started and start_token(root) != started:
            return []
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return []
    return stop_processes(procs, grace, kill_wait)


def _running(proc: psutil.Process) -> bool:
    import psutil

    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _reap(procs: Iterable[psutil.Process]) -> None:
    """Collect those of ``procs`` that are our children and have ended (no zombies)."""
    import psutil

    me = os.getpid()
    for proc in list(procs):
        try:
            if proc.ppid() == me:
                proc.wait(timeout=0)
        except (psutil.Error, ChildProcessError):
            pass


def reap_later(proc: subprocess.Popen[bytes], name: str) -> None:
    """Wait for a detached child in a daemon thread, so it leaves no zombie when it ends
    while this process lives on."""
    threading.Thread(target=proc.wait, name=name, daemon=True).start()

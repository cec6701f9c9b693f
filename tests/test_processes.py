"""Liveness by pid and start time, and stopping processes: real subprocesses, real signals."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from aml_jupyter.compute.local import liveness, processes

#: A process that ignores SIGTERM (or, with "polite", ends on it after writing a file), and
#: starts a child that ignores SIGTERM too; it prints the child's pid once both are ready.
STUBBORN = """
import os, signal, subprocess, sys, time
polite = sys.argv[1] == "polite"
def bye(*_):
    open(sys.argv[2], "w").write("got SIGTERM")
    os._exit(0)
signal.signal(signal.SIGTERM, bye if polite else signal.SIG_IGN)
child = subprocess.Popen([sys.executable, "-c",
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print(1, flush=True); "
    "time.sleep(600)"], stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
time.sleep(600)
"""


def _start(tmp_path: Path, mode: str, new_session: bool = True) -> tuple[subprocess.Popen, int]:
    """The stubborn process (its own session: a process group) and its child's pid."""
    proc = subprocess.Popen(
        [sys.executable, "-c", STUBBORN, mode, str(tmp_path / "bye")],
        stdout=subprocess.PIPE,
        start_new_session=new_session,
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


@pytest.fixture
def started() -> Iterator[list[int]]:
    """Pids a test started: whatever is left of them is killed at the end."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _ended(pid: int) -> bool:
    """True when ``pid`` is gone or a zombie (which its new parent, init, reaps in time)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _reaped(pid: int) -> bool:
    """True when ``pid`` (a child of ours) has been waited for by someone."""
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return False


def test_a_live_process_with_another_start_time_is_not_ours(started: list[int]) -> None:
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    started.append(proc.pid)
    token = liveness.process_start_time(proc.pid)
    assert liveness.is_alive(proc.pid, token, liveness.HOST) is True
    # The same pid recorded with another start time: a recycled pid, a stranger.
    assert liveness.is_alive(proc.pid, str(int(token) - 1), liveness.HOST) is False
    assert liveness.is_alive(proc.pid, token, "another-host") is None
    # The token is /proc's starttime, so what older versions recorded still matches.
    with open(f"/proc/{proc.pid}/stat", "rb") as f:
        assert f.read().rsplit(b")", 1)[1].split()[19].decode() == token
    proc.kill()
    # Ended but not reaped yet (a zombie): dead, with or without a start time.
    deadline = time.monotonic() + 10
    while psutil.Process(proc.pid).status() != psutil.STATUS_ZOMBIE:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert liveness.is_alive(proc.pid, token, liveness.HOST) is False
    assert liveness.is_alive(proc.pid, None, liveness.HOST) is False
    proc.wait()
    assert liveness.is_alive(proc.pid, token, liveness.HOST) is False
    assert liveness.process_start_time(proc.pid) == ""


def test_a_group_whose_leader_ignores_sigterm_is_killed_and_reaped(
    tmp_path: Path, started: list[int]
) -> None:
    leader, child = _start(tmp_path, "stubborn")
    started += [leader.pid, child]
    assert {p.pid for p in processes.group_members(leader.pid)} == {leader.pid, child}
    assert processes.stop_group(leader.pid, grace=0.5) == []
    assert processes.group_members(leader.pid) == []
    assert _ended(child)
    assert _reaped(leader.pid)  # our child: no zombie left behind


def test_a_group_that_ends_on_sigterm_gets_it_first(tmp_path: Path, started: list[int]) -> None:
    leader, child = _start(tmp_path, "polite")
    started += [leader.pid, child]
    assert processes.stop_group(leader.pid, grace=1.0) == []
    assert (tmp_path / "bye").read_text() == "got SIGTERM"
    assert _ended(child)  # it ignored SIGTERM: SIGKILLed after the grace
    assert _reaped(leader.pid)


def test_a_group_whose_leader_pid_has_another_start_time_is_left_alone(
    tmp_path: Path, started: list[int]
) -> None:
    leader, child = _start(tmp_path, "stubborn")
    started += [leader.pid, child]
    token = liveness.process_start_time(leader.pid)
    assert processes.stop_group(leader.pid, grace=0.1, started=str(int(token) + 7)) == []
    assert {p.pid for p in processes.group_members(leader.pid)} == {leader.pid, child}
    assert processes.stop_group(leader.pid, grace=0.1, started=token) == []
    assert processes.group_members(leader.pid) == []


def test_a_tree_is_stopped_with_its_descendants(tmp_path: Path, started: list[int]) -> None:
    root, child = _start(tmp_path, "stubborn", new_session=False)  # in our own group
    started += [root.pid, child]
    assert processes.stop_tree(root.pid, grace=0.3) == []
    assert _ended(child)
    assert _reaped(root.pid)
    assert processes.stop_tree(root.pid, grace=0.3) == []  # gone: nothing to do


def test_children_are_stopped_and_reaped_with_the_standard_library(
    tmp_path: Path, started: list[int]
) -> None:
    stubborn, child = _start(tmp_path, "stubborn")
    polite, polite_child = _start(tmp_path, "polite")
    started += [stubborn.pid, child, polite.pid, polite_child]
    assert processes.stop_children([stubborn.pid, polite.pid], grace=0.5) == set()
    assert _reaped(stubborn.pid) and _reaped(polite.pid)
    assert (tmp_path / "bye").read_text() == "got SIGTERM"

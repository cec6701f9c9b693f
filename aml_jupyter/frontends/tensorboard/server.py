"""TensorBoard processes: started on a free port, bound to 127.0.0.1, waited for until they
answer, stopped with all they started; the running ones are listed in ``instances.json``."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ...compute.local import liveness, processes
from ...errors import AmlError

#: TensorBoard listens here only: other machines reach it through Jupyter's proxy.
HOST = "127.0.0.1"
#: Seconds TensorBoard gets to answer before ``start()`` gives up (and stops it).
START_TIMEOUT_S = 30.0
#: How many ports past the asked one ``start()`` tries when they are taken.
PORT_TRIES = 20

#: TensorBoard processes this Python started, kept so they can be waited for (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}


class Instances:
    """``instances.json`` in ``folder``: the running TensorBoards, read and written under a lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "instances.json"

    @contextlib.contextmanager
    def entries(self) -> Iterator[list[dict[str, Any]]]:
        """The live entries (dead ones dropped), locked; changes to the list are saved."""
        import fcntl

        _reap()
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "instances.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start at a time: no two for the same runs
            try:
                entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                entries = []
            # Another host's entries stay (a shared folder); we cannot tell if they live.
            entries = [
                e
                for e in entries
                if liveness.is_alive(e["pid"], e["started"], e["host"]) is not False
            ]
            try:
                yield entries
            finally:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(entries, indent=1))
                os.replace(tmp, self.path)


def _reap() -> None:
    """Wait for the TensorBoards started here that have ended (stopped from another kernel)."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def find(entries: list[dict[str, Any]], flag: str, logdir: str) -> dict[str, Any] | None:
    """This host's entry serving ``logdir``, if any."""
    for entry in entries:
        if (entry["host"], entry["flag"], entry["logdir"]) == (liveness.HOST, flag, logdir):
            return entry
    return None


def answers(port: int, logdir: str, timeout: float = 2.0) -> bool:
    """True when the TensorBoard on ``port`` answers and serves ``logdir``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a web proxy
    try:
        with opener.open(f"http://{HOST}:{port}/data/environment", timeout=timeout) as response:
            return bool(json.loads(response.read())["data_location"] == logdir)
    except (OSError, ValueError, KeyError):
        return False


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TensorBoard binds
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(start: int, skip: set[int]) -> int:
    for port in range(start, min(start + PORT_TRIES, 65536)):
        if port not in skip and _port_is_free(port):
            return port
    raise AmlError(
        f"Ports {start}-{start + PORT_TRIES - 1} are all in use; pass another port, "
        "e.g. Tensorboard(runs, port=7006), or stop TensorBoards you no longer need."
    )


def launch(
    flag: str, logdir: str, port: int, folder: Path, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Start TensorBoard on the first free port from ``port``; its registry entry once it answers."""
    taken = {int(e["port"]) for e in entries}
    chosen = _free_port(port, taken)
    for _ in range(PORT_TRIES):
        if chosen != port:
            print(f"Port {port} is in use; TensorBoard uses port {chosen}.")
        log_path = folder / f"tensorboard-{chosen}.log"
        command = [
            sys.executable,
            "-m",
            "tensorboard.main",
            flag,
            logdir,
            "--host",
            HOST,
            "--port",
            str(chosen),
            "--load_fast",
            "false",  # the Python loader (--logdir_spec needs it): one process, no data server
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a kernel restart, as %tensorboard's does
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _children[proc.pid] = proc
        entry = {
            "pid": proc.pid,
            "started": liveness.process_start_time(proc.pid),
            "host": liveness.HOST,
            "port": chosen,
            "flag": flag,
            "logdir": logdir,
            "start_time": time.time(),
            "log": str(log_path),
        }
        try:
            if _wait_until_answering(proc, chosen, logdir, log_path):
                print(f"TensorBoard started on port {chosen} (pid {proc.pid}).")
                return entry
        except BaseException:
            terminate(entry)
            raise
        terminate(entry)  # it could not bind after all (a race): try the next port
        chosen = _free_port(chosen + 1, taken)
    raise AmlError(f"TensorBoard could not bind to a port from {port} on; pass another port.")


def _wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, logdir: str, log_path: Path
) -> bool:
    """True once TensorBoard answers; False if it exited because its port was taken."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if answers(port, logdir, timeout=1.0):
            return True
        code = proc.poll()
        if code is not None:
            tail = _tail(log_path)
            if "could not bind to port" in tail:
                return False
            raise AmlError(
                f"TensorBoard exited (code {code}) before it answered. Its last lines:\n{tail}"
            )
        if time.monotonic() > deadline:
            raise AmlError(
                f"TensorBoard did not answer on port {port} within {START_TIMEOUT_S:g} s, so it "
                f"was stopped. Its last lines ({log_path}):\n{_tail(log_path) or '(nothing)'}"
            )
        time.sleep(0.2)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_bytes()[-8192:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def terminate(entry: dict[str, Any], grace: float = 5.0) -> None:
    """Stop the TensorBoard of ``entry`` (its whole process group) and wait until it is gone.

    Only a process whose pid and start time match the entry is signalled: never a stranger
    that got the pid later.
    """
    pid = int(entry["pid"])
    child = _children.pop(pid, None)
    if liveness.is_alive(pid, entry["started"], entry["host"]) is True:
        try:
            leads = os.getpgid(pid) == pid
        except OSError:
            leads = False
        if leads:  # it leads its own session: the group holds all it started
            processes.stop_group(pid, grace, entry["started"])
        else:
            processes.stop_tree(pid, grace, entry["started"])
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in the kernel: leave it
            child.wait(timeout=1.0)  # reap it (if the stop has not)

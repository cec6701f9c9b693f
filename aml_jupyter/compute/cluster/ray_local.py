"""A one-machine Ray head to try the cluster target with (demo notebook, tests, benchmarks).

``with LocalRayHead(num_cpus=3) as address: ComputeCluster.attach(ws, "ray", address)``
runs ``ray start --head`` on free ports in a short temp folder and, on exit, stops every
process it started by PID: each carries a marker in its environment, so another Ray on the
same machine is left alone (``ray stop`` would stop it too).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import psutil

from ...errors import AmlError
from ..local.processes import stop_processes


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


class LocalRayHead:
    """``ray start --head`` on this machine, stopped (by PID) by :meth:`stop` or ``with``."""

    def __init__(self, num_cpus: int = 2) -> None:
        self.num_cpus = num_cpus
        self.address: str | None = None
        # Ray's socket paths must stay short: not under a deep pytest/tmp folder.
        self.temp = Path(f"/tmp/aml-ray-{uuid.uuid4().hex[:8]}")
        self._marker = ("AML_LOCAL_RAY_HEAD", uuid.uuid4().hex)

    def start(self) -> str:
        """Start the head; returns its job-submission address (``http://127.0.0.1:PORT``)."""
        ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
        if ray is None:
            raise AmlError("The `ray` command is missing: pip install 'aml-jupyter[cluster]'.")
        gcs, dashboard, agent, agent_grpc, metrics, runtime_env, client = _free_ports(7)
        env = {**os.environ, self._marker[0]: self._marker[1], "RAY_USAGE_STATS_ENABLED": "0"}
        # A job's entrypoint runs `python` from the PATH: this Python, with its packages.
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        command = [
            ray, "start", "--head", "--num-cpus", str(self.num_cpus), "--port", str(gcs),
            "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dashboard),
            "--dashboard-agent-listen-port", str(agent),
            "--dashboard-agent-grpc-port", str(agent_grpc),
            "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env),
            "--ray-client-server-port", str(client), "--temp-dir", str(self.temp),
            "--include-dashboard", "true", "--disable-usage-stats",
        ]  # fmt: skip
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            self.stop()
            raise AmlError(f"`ray start --head` failed:\n{(done.stdout + done.stderr)[-2000:]}")
        self.address = f"http://127.0.0.1:{dashboard}"
        return self.address

    def pids(self) -> list[int]:
        """The processes this head started (their pids)."""
        return [p.pid for p in self._processes()]

    def _processes(self) -> list[psutil.Process]:
        """Found by their environment marker, or (Ray's agents get an environment of their
        own) by a file open in this head's temp folder."""
        key, value = self._marker
        temp = str(self.temp) + "/"
        found = []
        for proc in psutil.process_iter():
            if proc.pid == os.getpid():
                continue
            try:
                if proc.environ().get(key) == value or any(
                    f.path.startswith(temp) for f in proc.open_files()
                ):
                    found.append(proc)
            except psutil.Error:
                pass  # ended, or not ours to read
        return found

    def stop(self) -> None:
        """SIGTERM every process of this head, SIGKILL what is left after 10 s."""
        stop_processes(self._processes(), grace=10.0, kill_wait=5.0)
        # Any the first ones started meanwhile: no second grace period.
        stop_processes(self._processes(), grace=0.0, kill_wait=5.0)
        shutil.rmtree(self.temp, ignore_errors=True)

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""A Ray cluster on this one machine, to try the cluster target with (demo, tests, benchmarks).

``with LocalRayHead(num_cpus=3) as address: ComputeCluster.attach(ws, "ray", address)``
runs ``ray start --head`` on free ports in a short temp folder and, on exit, stops every
process it started by PID: each carries a marker in its environment, so another Ray on the
same machine is left alone (``ray stop`` would stop it too).

Several nodes on one machine (``head.add_node(...)``, a second ``ray start --address``) need
what a laptop cluster needs too, found on Ray 2.60:

- each node its own IP address: ``--node-ip-address 127.0.0.1`` is rewritten to the machine's
  external address, and two nodes on one address share the ``node:<ip>`` resource and look
  alike; the loopback addresses ``127.0.0.2``, ``127.0.0.3`` ... work on Linux with no setup
  (on macOS: ``sudo ifconfig lo0 alias 127.0.0.2``);
- each node its own ``--temp-dir`` (short: Ray's socket paths are limited to ~100 bytes) and
  its own ports (node manager, object manager, agents, metrics; the dashboard agent's
  default 52365 is bound on ``127.0.0.1`` too, so two nodes clash on it): fresh free ones at
  every start, because the GCS marks a node that comes back on its old ports dead;
- some patience on a busy machine: a raylet gives its dashboard agent only ~15 s to come up
  and then dies ("Timed out waiting for file ... dashboard_agent_listen_port"), so a node
  that fails so is started once more, on new ports.

Each node's processes get ``TMPDIR`` in its temp folder, so :meth:`LocalRayNode.stop` leaves
no scratch folder behind. ``fast_failure_detection`` (tests) has the GCS call a silent node
dead after ~3 s instead of ~15 s. :meth:`LocalRayNode.kill_raylet` SIGKILLs one node's raylet
(a lost node, for tests).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from ...errors import AmlError
from ..local.processes import stop_processes

#: The GCS health check of a node, for tests: three missed checks a second apart.
FAST_FAILURE_DETECTION = {
    "RAY_health_check_period_ms": "1000",
    "RAY_health_check_timeout_ms": "1000",
    "RAY_health_check_failure_threshold": "3",
}


def _free_ports(n: int) -> list[int]:
    # Bound on every address: a port some node holds on 127.0.0.x is not free.
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("", 0))
    ports = [int(s.getsockname()[1]) for s in socks]
    for s in socks:
        s.close()
    return ports


def _ray_command() -> str:
    ray = shutil.which("ray", path=os.path.dirname(sys.executable)) or shutil.which("ray")
    if ray is None:
        raise AmlError("The `ray` command is missing: pip install 'aml-jupyter[cluster]'.")
    return ray


class LocalRayNode:
    """One ``ray start`` on this machine, its processes found (and stopped) by PID."""

    def __init__(
        self,
        num_cpus: int = 2,
        ip: str | None = None,
        resources: dict[str, float] | None = None,
        object_store_mb: int | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.num_cpus, self.ip, self.resources = num_cpus, ip, dict(resources or {})
        self.object_store_mb, self.extra_env = object_store_mb, dict(env or {})
        # Ray's socket paths must stay short: not under a deep pytest/tmp folder.
        self.temp = Path(f"/tmp/aml-ray-{uuid.uuid4().hex[:8]}")
        self._marker = ("AML_LOCAL_RAY_HEAD", uuid.uuid4().hex)

    def _run(self, role: Callable[[list[int]], list[str]], ports: int) -> list[int]:
        """``ray start`` with this node's options and ``role(free ports)``'s; returns the
        ``ports`` free ports used (the last 6 are this node's own). Tried twice at most."""
        env = {**os.environ, **self.extra_env, self._marker[0]: self._marker[1]}
        env["RAY_USAGE_STATS_ENABLED"] = "0"
        # What runs on the node keeps its temp files (the ranks' scratch workspaces too) in the
        # node's folder: removed with it, even when the node was killed before they were.
        env["TMPDIR"] = str(self.temp / "tmp")
        (self.temp / "tmp").mkdir(parents=True, exist_ok=True)
        # A job's entrypoint runs `python` from the PATH: this Python, with its packages.
        env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
        output = ""
        for _ in range(2):
            free = _free_ports(ports)
            agent, agent_grpc, metrics, runtime_env, node_manager, object_manager = free[-6:]
            command = [
                _ray_command(), "start", *role(free),
                "--num-cpus", str(self.num_cpus), "--temp-dir", str(self.temp),
                "--dashboard-agent-listen-port", str(agent),
                "--dashboard-agent-grpc-port", str(agent_grpc),
                "--metrics-export-port", str(metrics), "--runtime-env-agent-port", str(runtime_env),
                "--node-manager-port", str(node_manager),
                "--object-manager-port", str(object_manager), "--disable-usage-stats",
            ]  # fmt: skip
            if self.ip:
                command += ["--node-ip-address", self.ip]
            if self.resources:
                command += ["--resources", json.dumps(self.resources)]
            if self.object_store_mb:
                command += ["--object-store-memory", str(self.object_store_mb * 2**20)]
            done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
            if done.returncode == 0:
                return free
            output = done.stdout + done.stderr
            self._stop_processes()  # what the failed start left, before the second try
        self.stop()
        raise AmlError(f"`ray start` failed:\n{output[-2000:]}")

    def pids(self) -> list[int]:
        """The processes this node started (their pids)."""
        return [p.pid for p in self._processes()]

    def raylet_pid(self) -> int:
        """The pid of this node's raylet."""
        for proc in self._processes():
            try:
                if os.path.basename(proc.exe()) == "raylet":
                    return proc.pid
            except psutil.Error:
                continue
        raise AmlError(f"The Ray node at {self.ip or 'this machine'} has no raylet running.")

    def kill_raylet(self) -> int:
        """SIGKILL this node's raylet (the node is lost); returns its pid."""
        pid = self.raylet_pid()
        os.kill(pid, signal.SIGKILL)
        return pid

    def _processes(self) -> list[psutil.Process]:
        """Found by their environment marker, or (Ray's agents get an environment of their
        own) by a file open in this node's temp folder."""
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

    def _stop_processes(self) -> None:
        """SIGTERM every process of this node, SIGKILL what is left after 10 s."""
        stop_processes(self._processes(), grace=10.0, kill_wait=5.0)
        # Any the first ones started meanwhile: no second grace period.
        stop_processes(self._processes(), grace=0.0, kill_wait=5.0)

    def stop(self) -> None:
        """Stop every process of this node and remove its temp folder."""
        self._stop_processes()
        shutil.rmtree(self.temp, ignore_errors=True)


class LocalRayHead(LocalRayNode):
    """``ray start --head`` on this machine, stopped (by PID) by :meth:`stop` or ``with``;
    :meth:`add_node` joins more nodes to it (each on an address of its own)."""

    def __init__(
        self,
        num_cpus: int = 2,
        ip: str | None = None,
        resources: dict[str, float] | None = None,
        object_store_mb: int | None = None,
        fast_failure_detection: bool = False,
    ) -> None:
        env = FAST_FAILURE_DETECTION if fast_failure_detection else None
        super().__init__(num_cpus, ip, resources, object_store_mb, env)
        self.address: str | None = None
        self.gcs_address: str | None = None
        self.nodes: list[LocalRayNode] = []

    def start(self) -> str:
        """Start the head; returns its job-submission address (``http://IP:PORT``)."""
        host = self.ip or "127.0.0.1"

        def role(free: list[int]) -> list[str]:
            gcs, dashboard, client = free[:3]
            return [
                "--head", "--port", str(gcs), "--dashboard-host", host,
                "--dashboard-port", str(dashboard), "--ray-client-server-port", str(client),
                "--include-dashboard", "true",
            ]  # fmt: skip

        free = self._run(role, 9)
        self.gcs_address = f"{host}:{free[0]}"
        self.address = f"http://{host}:{free[1]}"
        return self.address

    def add_node(
        self,
        num_cpus: int = 2,
        ip: str = "127.0.0.3",
        resources: dict[str, float] | None = None,
        object_store_mb: int | None = None,
    ) -> LocalRayNode:
        """Start another node on ``ip`` and join it to this head; stopped with the head."""
        if self.gcs_address is None:
            raise AmlError("Start the head before adding nodes to it.")
        node = LocalRayNode(num_cpus, ip, resources, object_store_mb, self.extra_env)
        self.nodes.append(node)
        gcs = self.gcs_address
        node._run(lambda free: ["--address", gcs], 6)
        return node

    def state(self) -> dict[str, str | None]:
        """What another process needs to find (and stop) this head: see :meth:`reattach`."""
        return {
            "address": self.address,
            "gcs_address": self.gcs_address,
            "temp": str(self.temp),
            "marker": self._marker[1],
        }

    @classmethod
    def reattach(cls, state: dict[str, Any]) -> LocalRayHead:
        """The head another process started, from its :meth:`state` (its added nodes are not
        known): ``pids()`` and ``stop()`` work on it as on the original."""
        head = cls()
        head.temp = Path(str(state["temp"]))
        head._marker = (head._marker[0], str(state["marker"]))
        head.address, head.gcs_address = state.get("address"), state.get("gcs_address")
        return head

    def pids(self) -> list[int]:
        """The processes this head and its added nodes started (their pids)."""
        return [pid for node in (*self.nodes, self) for pid in LocalRayNode.pids(node)]

    def stop(self) -> None:
        """Stop the added nodes, then the head (each by PID), and remove their temp folders."""
        for node in self.nodes:
            node.stop()
        super().stop()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

"""v1's ``ComputeInstance.provisioning_configuration`` + ``ComputeTarget.create``: an agent
(``aml instance serve``) on this machine that this package starts, stops and deletes.

The agent listens on ``127.0.0.1`` on a free port with a fresh token (mode 600, beside the
attached targets' tokens), runs its runs in its own workspace folder
``compute/NAME.agent/``, and logs to ``compute/NAME.agent.log``; its pid and start time are
in ``compute/NAME.agent.json``, so any process can stop it by pid. ``stop()`` ends the agent
(the target stays, ``Stopped``), ``start()`` starts it again on a new port.

The VM size is honoured as one machine can: the agent (and so every run it starts) is pinned
to the size's number of this machine's CPUs (``sched_setaffinity``, inherited by its
children) and sees that many of its GPUs (``CUDA_VISIBLE_DEVICES``; none for a CPU size).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import ComputeTargetException
from ..local.liveness import HOST, is_alive, process_start_time
from ..local.processes import reap_later, stop_tree
from ..local.ranks import free_port
from ..vm_sizes import machine_gpus, vm_size

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace
    from .. import ComputeTarget

#: The compute target type of a compute instance.
KIND = "ComputeInstance"
DEFAULT_VM_SIZE = "STANDARD_DS3_V2"  # v1's default for an instance
#: Seconds a starting agent has to answer.
START_TIMEOUT_S = 60.0


class AgentFiles:
    """Where a managed agent keeps its token, folder, pid and log."""

    def __init__(self, ws_folder: Path, name: str) -> None:
        compute = Path(ws_folder) / "compute"
        self.compute = compute
        self.token = compute / f"{name}.token"
        self.folder = compute / f"{name}.agent"
        self.pid = compute / f"{name}.agent.json"
        self.log = compute / f"{name}.agent.log"

    def read_pid(self) -> dict[str, Any] | None:
        try:
            info = json.loads(self.pid.read_text())
        except (OSError, ValueError):
            return None
        return info if isinstance(info, dict) and info.get("pid") else None

    def alive(self) -> bool:
        info = self.read_pid()
        return info is not None and bool(is_alive(info["pid"], info.get("started"), HOST))


class ComputeInstanceProvisioningConfiguration:
    """What ``ComputeInstance.provisioning_configuration`` returns: checked at once."""

    def __init__(self, vm_size_name: str, tags: Any, description: str | None) -> None:
        self.vm_size = vm_size(vm_size_name, DEFAULT_VM_SIZE).name.upper()
        self.tags = dict(tags or {})
        self.description = description

    def validate_configuration(self) -> None:
        """v1's check: done when the configuration was made."""

    def _create(self, workspace: Workspace, name: str) -> ComputeTarget:
        from .. import ComputeTarget  # the package, not .target: ComputeTarget() picks the class

        size = vm_size(self.vm_size, DEFAULT_VM_SIZE)
        if size.gpus > machine_gpus():
            import warnings

            warnings.warn(
                f"{size.name.upper()} has {size.gpus} GPU(s); this machine has "
                f"{machine_gpus()}, so compute instance {name!r} sees {min(size.gpus, machine_gpus())}.",
                stacklevel=3,
            )
        config = {
            "address": None,
            "ca_file": None,
            "managed": True,
            "vm_size": self.vm_size,
            "cpus": size.cpus,
            "gpus": min(size.gpus, machine_gpus()),
            "tags": self.tags,
            "description": self.description,
            "created_utc": time.time(),
        }
        config["address"] = start_agent(workspace.folder, name, config)
        try:
            workspace.store.attach_compute_target(name, KIND, config)
        except BaseException:
            stop_agent(workspace.folder, name)
            raise
        return ComputeTarget(workspace, name)


def _visible_gpus(count: int) -> str:
    """``CUDA_VISIBLE_DEVICES`` for the first ``count`` GPUs this process sees."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    ids = (
        [d.strip() for d in visible.split(",")]
        if visible is not None
        else [str(i) for i in range(machine_gpus())]
    )
    return ",".join([d for d in ids if d and d != "-1"][:count])


def start_agent(ws_folder: Path, name: str, config: dict[str, Any]) -> str:
    """Start target ``name``'s agent detached; its address once it answers."""
    from .agent import read_token
    from .client import AgentClient

    files = AgentFiles(ws_folder, name)
    files.compute.mkdir(parents=True, exist_ok=True)
    token = read_token(files.token, create=True)
    port = free_port()
    address = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": _visible_gpus(int(config.get("gpus", 0)))}
    command = [
        sys.executable, "-m", "aml_jupyter", "instance", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--folder", str(files.folder), "--token-file", str(files.token),
    ]  # fmt: skip
    with open(files.log, "ab") as log:
        proc = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    reap_later(proc, "aml-reap-agent")
    if hasattr(os, "sched_setaffinity"):  # before it can start any run: its runs inherit it
        cores = sorted(os.sched_getaffinity(0))[: max(1, int(config.get("cpus", 1)))]
        try:
            os.sched_setaffinity(proc.pid, cores)
        except OSError:
            pass  # ended already: said below
    files.pid.write_text(
        json.dumps({"pid": proc.pid, "started": process_start_time(proc.pid), "port": port})
    )
    client = AgentClient(address, token, timeout=2.0)
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            client.info()
            return address
        except Exception:  # not listening yet
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_agent(ws_folder, name)
            tail = files.log.read_text(errors="replace")[-1500:]
            raise ComputeTargetException(
                f"The agent of compute instance {name!r} did not start. Its log ({files.log}):\n{tail}"
            )
        time.sleep(0.1)


def stop_agent(ws_folder: Path, name: str) -> bool:
    """Stop target ``name``'s agent by pid; whether one was running."""
    files = AgentFiles(ws_folder, name)
    info = files.read_pid()
    if info is None:
        return False
    stop_tree(int(info["pid"]), grace=10.0, started=info.get("started"))
    files.pid.unlink(missing_ok=True)
    return True


__all__ = [
    "AgentFiles",
    "ComputeInstanceProvisioningConfiguration",
    "start_agent",
    "stop_agent",
]

"""The processes of a distributed job on one machine: their environment variables (their logs
are the run folder's, :meth:`~aml_jupyter.store.run_folder.RunFolder.process_log`).

Every target starts a job's ranks through these (the local supervisor, a compute instance's
agent, each Ray node), so each rank sees the same ``RANK``/``WORLD_SIZE``/``MASTER_*`` names.
"""

from __future__ import annotations

import socket
from typing import Any


def free_port() -> int:
    """A TCP port nothing listens on now (for ``MASTER_PORT``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_environments(spec: dict[str, Any] | None, master_port: int) -> list[dict[str, str]]:
    """One dict of environment variables per process, rank order (one empty dict if none)."""
    if not spec:
        return [{}]
    per_node = int(spec["processCountPerNode"])
    world = per_node * int(spec["nodeCount"])
    envs = []
    for rank in range(world):
        local = rank % per_node
        env = {
            "RANK": rank,
            "WORLD_SIZE": world,
            "LOCAL_RANK": local,
            "LOCAL_WORLD_SIZE": per_node,
            "NODE_RANK": rank // per_node,
            "GROUP_RANK": rank // per_node,
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": master_port,
            "AML_DIST_BACKEND": spec["backend"],
            "OMPI_COMM_WORLD_RANK": rank,
            "OMPI_COMM_WORLD_SIZE": world,
            "OMPI_COMM_WORLD_LOCAL_RANK": local,
            "OMPI_COMM_WORLD_LOCAL_SIZE": per_node,
            "PMI_RANK": rank,
            "PMI_SIZE": world,
        }
        envs.append({k: str(v) for k, v in env.items()})
    return envs

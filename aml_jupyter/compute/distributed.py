"""Distributed job configs (v1 names) and the environment each process of such a job gets.

``ScriptRunConfig(..., distributed_job_config=PyTorchConfiguration(process_count=4))`` starts
four processes of the script. Each gets what ``torch.distributed`` (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``, ...) and MPI-style code
(``OMPI_COMM_WORLD_*``, ``PMI_*``) expect (:mod:`aml_jupyter.compute.local.ranks`); each
process's output goes to its own log. On the ``local`` target every "node" is this machine.
"""

from __future__ import annotations

from typing import Any

from ..errors import AmlError
from .local.ranks import free_port, process_environments

__all__ = [
    "MpiConfiguration",
    "PyTorchConfiguration",
    "free_port",
    "job_spec",
    "process_environments",
]


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AmlError(f"{name} must be a whole number >= 1, got {value!r}.")
    return value


class PyTorchConfiguration:
    """``process_count`` processes in all over ``node_count`` nodes (v1's signature)."""

    framework = "PyTorch"

    def __init__(
        self,
        communication_backend: str = "Nccl",
        process_count: int | None = None,
        node_count: int = 1,
    ) -> None:
        self.communication_backend = communication_backend
        self.node_count = _positive("node_count", node_count)
        self.process_count = _positive("process_count", process_count or node_count)
        if self.process_count % self.node_count:
            raise AmlError(
                f"process_count={self.process_count} does not split evenly over "
                f"node_count={self.node_count}; use a multiple of the node count."
            )

    def spec(self) -> dict[str, Any]:
        """What the run records: framework, backend, nodes, processes per node."""
        return {
            "framework": self.framework,
            "backend": self.communication_backend,
            "nodeCount": self.node_count,
            "processCountPerNode": self.process_count // self.node_count,
        }


class MpiConfiguration:
    """``process_count_per_node`` processes on each of ``node_count`` nodes (v1's signature)."""

    framework = "Python"

    def __init__(self, process_count_per_node: int = 1, node_count: int = 1) -> None:
        self.process_count_per_node = _positive("process_count_per_node", process_count_per_node)
        self.node_count = _positive("node_count", node_count)

    def spec(self) -> dict[str, Any]:
        """What the run records: framework, communicator, nodes, processes per node."""
        return {
            "framework": self.framework,
            "backend": "IntelMpi",
            "nodeCount": self.node_count,
            "processCountPerNode": self.process_count_per_node,
        }


def job_spec(config: Any) -> dict[str, Any] | None:
    """The recorded form of a ``distributed_job_config`` (None: one process)."""
    if config is None:
        return None
    if not isinstance(config, (PyTorchConfiguration, MpiConfiguration)):
        raise AmlError(
            f"distributed_job_config takes a PyTorchConfiguration or MpiConfiguration, got "
            f"{type(config).__name__}."
        )
    return config.spec()

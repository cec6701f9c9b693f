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
    "TensorflowConfiguration",
    "free_port",
    "job_spec",
    "process_environments",
]


def _positive(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise AmlError(f"{name} must be a whole number >= 1, got {value!r}.")
    return value


class PyTorchConfiguration:
    """``process_count`` processes in all over ``node_count`` nodes (v1's signature);
    ``process_count=None``: one per node."""

    framework = "PyTorch"

    def __init__(
        self,
        communication_backend: str = "Nccl",
        process_count: int | None = None,
        node_count: int = 1,
    ) -> None:
        self.communication_backend = communication_backend
        self.node_count = _positive("node_count", node_count)
        self.process_count = process_count
        self.spec()  # a bad count is refused here, not at submit

    @property
    def process_count(self) -> int:
        return self._process_count or self.node_count

    @process_count.setter
    def process_count(self, value: int | None) -> None:
        self._process_count = None if value is None else _positive("process_count", value)

    def spec(self) -> dict[str, Any]:
        """What the run records: framework, backend, nodes, processes per node."""
        nodes = _positive("node_count", self.node_count)
        if self.process_count % nodes:
            raise AmlError(
                f"process_count={self.process_count} does not split evenly over "
                f"node_count={nodes}; use a multiple of the node count."
            )
        return {
            "framework": self.framework,
            "backend": self.communication_backend,
            "nodeCount": nodes,
            "processCountPerNode": self.process_count // nodes,
        }

    def __repr__(self) -> str:
        return (
            f"PyTorchConfiguration(communication_backend={self.communication_backend!r}, "
            f"process_count={self.process_count!r}, node_count={self.node_count!r})"
        )


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
            "nodeCount": _positive("node_count", self.node_count),
            "processCountPerNode": _positive("process_count_per_node", self.process_count_per_node),
        }

    def __repr__(self) -> str:
        return (
            f"MpiConfiguration(process_count_per_node={self.process_count_per_node!r}, "
            f"node_count={self.node_count!r})"
        )


class TensorflowConfiguration:
    """v1's parameter-server TensorFlow job: ``worker_count`` workers and
    ``parameter_server_count`` servers. One worker and no server runs as one process; more is
    refused at submit (this version starts no parameter servers: use ``MpiConfiguration`` with
    ``MultiWorkerMirroredStrategy``, or ``PyTorchConfiguration``)."""

    framework = "TensorFlow"

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = _positive("worker_count", worker_count)
        if not isinstance(parameter_server_count, int) or parameter_server_count < 0:
            raise AmlError(
                f"parameter_server_count must be a whole number >= 0, got "
                f"{parameter_server_count!r}."
            )
        self.parameter_server_count = parameter_server_count
        self.node_count = 1

    def spec(self) -> dict[str, Any] | None:
        """None (one process) for one worker and no server; else a clear refusal."""
        if self.worker_count == 1 and self.parameter_server_count == 0:
            return None
        raise AmlError(
            f"TensorflowConfiguration(worker_count={self.worker_count}, "
            f"parameter_server_count={self.parameter_server_count}) asks for parameter-server "
            "training, which this version does not start. Use worker_count=1, "
            "parameter_server_count=0 for one process, or MpiConfiguration(process_count_per_node"
            "=N) with tf.distribute.MultiWorkerMirroredStrategy for N workers."
        )

    def __repr__(self) -> str:
        return (
            f"TensorflowConfiguration(worker_count={self.worker_count!r}, "
            f"parameter_server_count={self.parameter_server_count!r})"
        )


def job_spec(config: Any) -> dict[str, Any] | None:
    """The recorded form of a ``distributed_job_config`` (None: one process)."""
    if config is None:
        return None
    if not isinstance(config, (PyTorchConfiguration, MpiConfiguration, TensorflowConfiguration)):
        raise AmlError(
            "distributed_job_config takes a PyTorchConfiguration, MpiConfiguration or "
            f"TensorflowConfiguration, got {type(config).__name__}."
        )
    return config.spec()

"""Where a distributed run's ranks go on a Ray cluster, and what became of their nodes.

One placement-group bundle per node the run asks for (``node_count``), each holding that
node's processes (``process_count_per_node`` x ``cpus_per_process``/``gpus_per_process``):
``STRICT_PACK`` for one node, ``STRICT_SPREAD`` for several, so ``node_count=N`` really means N
distinct nodes; rank ``r`` runs in bundle ``r // process_count_per_node``, which is its
``NODE_RANK``. The job's driver holds its own small share outside the bundles.

``gpus_per_process`` is asked for as Ray's ``GPU`` resource; ``AML_RAY_GPU_RESOURCE`` in the
run's environment variables names another resource to ask for instead (an accelerator Ray
calls otherwise, or a custom resource standing in for GPUs in a test).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

#: The environment variable naming the Ray resource that ``gpus_per_process`` asks for.
GPU_RESOURCE_ENV = "AML_RAY_GPU_RESOURCE"
#: Seconds before the first "waiting for" note, then between notes.
FIRST_NOTE_S, NOTE_EVERY_S = 2.0, 30.0


def gpu_resource() -> str:
    return os.environ.get(GPU_RESOURCE_ENV, "").strip() or "GPU"


class Placement:
    """The bundles of one distributed run (see the module docstring)."""

    def __init__(self, spec: dict[str, Any], cpus: float, gpus: float) -> None:
        self.nodes = int(spec["nodeCount"])
        self.per_node = int(spec["processCountPerNode"])
        self.cpus, self.gpus, self.gpu_name = float(cpus), float(gpus), gpu_resource()
        self.strategy = "STRICT_PACK" if self.nodes == 1 else "STRICT_SPREAD"

    def bundle(self) -> dict[str, float]:
        """One node's share: its processes' CPUs (and GPUs) together."""
        bundle = {"CPU": self.cpus * self.per_node} if self.cpus else {}
        if self.gpus:
            bundle[self.gpu_name] = self.gpus * self.per_node
        return bundle

    def bundle_of(self, rank: int) -> int:
        return rank // self.per_node

    def actor_options(self) -> dict[str, Any]:
        """One rank's request, within its node's bundle."""
        options: dict[str, Any] = {"num_cpus": self.cpus, "num_gpus": 0}
        if self.gpus and self.gpu_name == "GPU":
            options["num_gpus"] = self.gpus  # Ray sets CUDA_VISIBLE_DEVICES for the rank
        elif self.gpus:
            options["resources"] = {self.gpu_name: self.gpus}
        return options

    def reserve(self, run_id: str, note: Callable[[str], None], canceled: threading.Event) -> Any:
        """The placement group once Ray has placed it, saying why while it waits; None (and
        the group removed) when ``canceled`` is set first."""
        import ray
        from ray.util.placement_group import placement_group, remove_placement_group

        group = placement_group(
            [self.bundle() for _ in range(self.nodes)], strategy=self.strategy, name=f"aml-{run_id}"
        )
        ready, started, next_note = group.ready(), time.monotonic(), FIRST_NOTE_S
        while not ray.wait([ready], timeout=0.2)[0]:
            if canceled.is_set():
                remove_placement_group(group)
                return None
            if time.monotonic() - started > next_note:
                note(self.waiting_reason())  # a run Queued for good (too small a cluster) says why
                next_note += NOTE_EVERY_S
        return group

    def waiting_reason(self) -> str:
        import ray

        alive = sorted(
            (n for n in ray.nodes() if n.get("Alive")), key=lambda n: n["NodeManagerAddress"]
        )
        bundle = self.bundle()
        if self.nodes == 1 and self.per_node == 1:
            asked = f"the run's process ({_resources(bundle, self.gpu_name)})"
        else:
            asked = f"{self.nodes} bundle(s) of {_resources(bundle, self.gpu_name)}"
        if self.nodes > 1:
            asked += f", each on a node of its own ({self.strategy})"
        shown = ", ".join(
            f"{n['NodeManagerAddress']} ({_resources(n.get('Resources', {}), self.gpu_name)})"
            for n in alive
        )
        free = _resources(ray.available_resources(), self.gpu_name)
        reason = (
            f"[aml] Waiting for Ray to place {asked}. The cluster has {len(alive)} node(s): "
            f"{shown}; free now: {free} (running jobs and their drivers, this one's too, hold "
            "the rest)."
        )
        small = [
            name
            for name, value in bundle.items()
            if all(n.get("Resources", {}).get(name, 0.0) < value for n in alive)
        ]
        if self.nodes > len(alive):
            reason += (
                f" The run needs {self.nodes} nodes: it waits until that many have joined (an "
                "autoscaler may add them), or cancel it and ask for fewer (node_count)."
            )
        elif small:
            reason += (
                f" No node has that much {' or '.join(small)}: the run waits until such a node "
                "joins (an autoscaler may add one), or cancel it and ask for less "
                "(cpus_per_process, gpus_per_process)."
            )
        return reason


def _resources(resources: dict[str, float], gpu_name: str) -> str:
    shown = {k: resources[k] for k in ("CPU", gpu_name) if k in resources}
    return ", ".join(f"{k} {v:g}" for k, v in shown.items()) or "nothing"


def node_of_actor() -> dict[str, str]:
    """Inside a rank's actor: the node it runs on (id and IP)."""
    import ray

    return {
        "node_id": ray.get_runtime_context().get_node_id(),
        "ip": ray.util.get_node_ip_address(),
    }


def node_lost(node_id: str, wait_s: float) -> bool:
    """Whether Ray calls node ``node_id`` dead (asked until ``wait_s`` seconds have passed: the
    GCS needs a few missed health checks to decide)."""
    import ray

    deadline = time.monotonic() + wait_s
    while True:
        for node in ray.nodes():
            if node.get("NodeID") == node_id and not node.get("Alive"):
                return True
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)

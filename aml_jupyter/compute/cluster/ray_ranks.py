"""Distributed runs on Ray: one rank actor per process, in its node's placement-group bundle.

Used by :mod:`aml_jupyter.compute.cluster.ray_driver` (inside the run's Ray job) for a run with
a ``distributed_job_config``, and for a single process that had to wait for room (one rank,
its log the driver log, no rank variables). The job's driver reserves a placement group with one bundle per
node (:mod:`aml_jupyter.compute.cluster.ray_placement`: ``node_count`` distinct nodes) while
the run shows ``Queued``, then :class:`RaySupervisor` (the local supervisor, with ranks that
are Ray actors instead of child processes) starts one :class:`~.ray_rank_process.RankProcess` actor per rank in
its node's bundle and records where each ran (property ``azureml.ray.nodes``). Each actor runs
the script on its node, in a scratch workspace of its own, with ``RANK``, ``WORLD_SIZE``,
``MASTER_ADDR`` (rank 0's node) and the rest; the driver pulls each rank's log and metrics (and
rank 0's ./logs, ./outputs and tags) into the run folder, which streams back to the submitter
as for any Ray run. Cancel, a failing rank and the time limit stop every rank, as on
``local``. A rank runs on another node: the names, tags and properties it sends are checked
before they are written, and a bad one fails the run. A rank whose node Ray loses ends the run
Failed with ``NodeLost`` naming the node (no fault of the script's); a rank actor that dies
otherwise, with ``SystemError``.
"""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

from ...errors import AmlError
from ...paths import checked_relative_name
from ...store.run_folder import (
    METRICS,
    STREAMED,
    process_log_name,
)
from ...tracking import plugins
from ...tracking.workspace import Workspace
from ..local import run_data
from ..local.ranks import process_environments
from ..local.supervisor import Supervisor
from ..remote import append_chunk
from ..untrusted import checked_mapping
from .ray_placement import Placement, node_lost
from .ray_rank_process import RANK_LOG, RankProcess

PUMP_S = 0.2
#: Seconds a pull from a rank may take before it is tried again next time.
PULL_TIMEOUT_S = 30.0
#: Seconds to wait for Ray to call a dead rank's node dead (its GCS health checks).
NODE_DEATH_WAIT_S = 30.0
#: Seconds a rank's actor may stay unreachable before it counts as dead.
UNAVAILABLE_S = 60.0
#: The run property saying where each rank ran (JSON: rank, node rank, node id, IP).
NODES_PROPERTY = "azureml.ray.nodes"


class _Rank:
    """What the supervisor's watch loop needs of a process: ``wait()`` and a ``pid``."""

    def __init__(self, supervisor: RaySupervisor, rank: int) -> None:
        self.supervisor, self.rank = supervisor, rank
        self.actor = supervisor.actors[rank]
        self.pid = None
        self.code: int | None = None

    def wait(self) -> int:
        """The script's exit code; -SIGKILL when its actor (or its node) is gone."""
        if self.code is None:
            self.code = self._wait()
        return self.code

    def _wait(self) -> int:
        import ray

        unavailable_since = None
        while True:
            try:
                return int(ray.get(self.actor.wait.remote()))
            except ray.exceptions.ActorUnavailableError as exc:
                # Unreachable for now: its node may be going, or only slow to answer.
                unavailable_since = unavailable_since or time.monotonic()
                if time.monotonic() - unavailable_since > UNAVAILABLE_S or node_lost(
                    self.supervisor.nodes[self.rank]["node_id"], 0
                ):
                    self.supervisor.actor_died(self.rank, exc)
                    return -int(signal.SIGKILL)
                time.sleep(1.0)
            except ray.exceptions.RayActorError as exc:
                self.supervisor.actor_died(self.rank, exc)
                return -int(signal.SIGKILL)


class RaySupervisor(Supervisor):
    """The local supervisor with Ray actors as ranks (see the module docstring)."""

    def __init__(self, ws: Workspace, run_id: str, placement: Placement) -> None:
        super().__init__(ws, run_id)
        self.placement = placement
        self.group: Any = None  # the placement group, once Ray has placed it
        self.actors: list[Any] = []
        #: Where each rank runs: node id, IP (and rank 0's port).
        self.nodes: list[dict[str, Any]] = []
        #: Ranks whose actor died: rank -> (its node was lost, Ray's message).
        self.dead: dict[int, tuple[bool, str]] = {}
        self._pumping = threading.Event()
        self._pump_lock = threading.Lock()
        #: Bytes of each rank's log copied here (rank 0's lands in the driver log, which also
        #: holds what the driver wrote before the ranks started: not an offset into the rank's).
        self._log_copied: dict[int, int] = {}
        #: A run with datasets: how its ranks read them, and the definition they lay them
        #: out from (placeholders still in its arguments).
        self._rank_grants: bytes | None = None
        self._rank_definition: dict[str, Any] | None = None

    def _prepare_data(self, definition: dict[str, Any]) -> dict[str, str]:
        """Datasets are fetched by each rank on its own node: here only the grants are taken
        from the job's package, for the ranks, with the definition as submitted (each rank
        puts its own paths in the arguments)."""
        if not run_data.uses_data(definition):
            return {}
        self._rank_definition = json.loads(json.dumps(definition))
        self._rank_grants = plugins.load("run_data.take_grants")(self.ws, self.run_id, definition)
        return {}

    def _start_processes(
        self, definition: dict[str, Any], work: Path, experiment: str
    ) -> list[Any]:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        actor_class = ray.remote(RankProcess)
        distributed = definition.get("distributed")  # None: one process, no rank variables
        envs = process_environments(distributed, 0)
        for rank in range(len(envs)):
            strategy = PlacementGroupSchedulingStrategy(
                self.group, placement_group_bundle_index=self.placement.bundle_of(rank)
            )
            self.actors.append(
                actor_class.options(
                    **self.placement.actor_options(),
                    scheduling_strategy=strategy,
                    max_concurrency=4,
                ).remote(self.run_id, experiment, rank)
            )
        started = time.monotonic()
        self.nodes = ray.get([a.node.remote() for a in self.actors])
        print(
            f"[aml] Rank actors up in {time.monotonic() - started:.2f} s; their processes took "
            f"{', '.join(str(n.pop('up_s')) for n in self.nodes)} s from start to answering",
            flush=True,
        )
        self._record_nodes(envs)
        for env in envs if distributed else ():
            env.update(
                {"MASTER_ADDR": self.nodes[0]["ip"], "MASTER_PORT": str(self.nodes[0]["port"])}
            )
        sent = self.secrets.sent() if self.secrets is not None else None  # each rank its own
        grants, given = self._rank_grants, self._rank_definition or definition
        ray.get(
            [a.start.remote(given, e, sent, grants) for a, e in zip(self.actors, envs, strict=True)]
        )
        threading.Thread(target=self._pump_until_done, daemon=True).start()
        return [_Rank(self, rank) for rank in range(len(self.actors))]

    def _record_nodes(self, envs: list[dict[str, str]]) -> None:
        """Where each rank runs, as a run property (and a line in the job's system log)."""
        where = [
            {
                "rank": r,
                "node_rank": int(env.get("NODE_RANK", 0)),
                "node_id": n["node_id"],
                "ip": n["ip"],
            }
            for r, (env, n) in enumerate(zip(envs, self.nodes, strict=True))
        ]
        print(f"[aml] Ranks placed: {json.dumps(where)}", flush=True)
        self.ws.store.add_properties(self.run_id, {NODES_PROPERTY: json.dumps(where)})

    def actor_died(self, rank: int, exc: Exception) -> None:
        """Rank ``rank``'s actor is gone: find out whether Ray lost its node."""
        lost = node_lost(self.nodes[rank]["node_id"], NODE_DEATH_WAIT_S)
        self.dead[rank] = (lost, str(exc).strip().splitlines()[0] if str(exc).strip() else "")
        print(f"[aml] Rank {rank}'s actor died (node lost: {lost}): {exc}", flush=True)

    def _system_error(self) -> dict[str, str] | None:
        """A lost node (``NodeLost``) or a dead actor (``SystemError``), naming them."""
        if not self.dead:
            return None
        lost = sorted(r for r, (node_gone, _) in self.dead.items() if node_gone)
        if lost:
            node = self.nodes[lost[0]]
            ranks = [r for r in lost if self.nodes[r]["node_id"] == node["node_id"]]
            which = f"rank {ranks[0]}" if len(ranks) == 1 else f"ranks {', '.join(map(str, ranks))}"
            return {
                "code": "NodeLost",
                "message": f"Ray node {node['ip']} (id {node['node_id']}) was lost while {which} "
                f"ran on it; the other ranks were stopped. This is not an error in the script: "
                "submit the run again.",
            }
        rank = min(self.dead)
        return {
            "code": "SystemError",
            "message": f"The Ray actor of rank {rank} (on node {self.nodes[rank]['ip']}) died: "
            f"{self.dead[rank][1]}",
        }

    def _pump_until_done(self) -> None:
        while not self._pumping.wait(PUMP_S):
            self._pump()

    def _pump(self) -> None:
        """Copy what each rank's folder gained into this run folder (rank logs renamed)."""
        import ray

        with self._pump_lock:
            for rank, actor in enumerate(self.actors):
                if rank in self.dead:
                    continue
                offsets = self._offsets(rank)
                try:
                    chunks = ray.get(actor.poll.remote(offsets), timeout=PULL_TIMEOUT_S)
                except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                    continue
                for name, data in chunks.items():
                    local = self._local_name(rank, str(name))
                    append_chunk(self.folder.root, local, data, STREAMED, f"rank {rank}")
                    if name == RANK_LOG:
                        self._log_copied[rank] = self._log_copied.get(rank, 0) + len(data)

    def _local_name(self, rank: int, name: str) -> str:
        if name == RANK_LOG:
            return process_log_name(rank)
        if name.startswith(f"{METRICS}/"):
            return f"{METRICS}/rank{rank}-{name.removeprefix(f'{METRICS}/')}"
        return name

    def _offsets(self, rank: int) -> dict[str, int]:
        offsets = {RANK_LOG: self._log_copied.get(rank, 0)}
        for path in self.folder.metrics.glob(f"rank{rank}-*"):
            offsets[f"{METRICS}/{path.name.removeprefix(f'rank{rank}-')}"] = path.stat().st_size
        if rank == 0:
            for path in self.folder.logs.rglob("*"):
                if path.is_file():
                    offsets[path.relative_to(self.folder.root).as_posix()] = path.stat().st_size
        return offsets

    def _keep_data_outputs(self, files: dict[str, bytes]) -> None:
        """Rank 0's output-dataset files into this run's output folders (as its ./outputs:
        rank 0's are the run's), where the run's end keeps them."""
        definition = self._rank_definition or {}
        names = {spec["name"] for spec in definition.get("outputDatasets") or []}
        for key, data in files.items():
            name, _, rel = key.partition("/")
            if name not in names:
                raise AmlError(f"Rank 0 sent a file of no output dataset: {key!r}.")
            clean = checked_relative_name(rel, "output dataset file of rank 0")
            path = self.folder.dataset_output(name) / clean
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)

    def _signal_all(self, procs: list[Any], sig: int) -> None:
        for actor in self.actors:
            actor.signal.remote(sig)

    def _collect(self) -> None:
        """Before the run is finalized: the ranks' last output, rank 0's files and tags."""
        import ray
        from ray.util.placement_group import remove_placement_group

        self._pumping.set()
        self._pump()
        try:
            results = ray.get(self.actors[0].results.remote(), timeout=PULL_TIMEOUT_S)
        except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
            results = {"outputs": {}, "tags": {}, "properties": {}}
        for name, data in results["outputs"].items():
            clean = checked_relative_name(name, "output file name of rank 0")
            if not clean.startswith("outputs/"):
                raise AmlError(f"Rank 0 sent an output outside ./outputs: {name!r}.")
            path = self.folder.work / clean
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        self._keep_data_outputs(results.get("data_outputs") or {})
        tags = checked_mapping(results["tags"], "tags", "rank 0")
        properties = checked_mapping(results["properties"], "properties", "rank 0")
        if tags:
            self.ws.store.set_tags(self.run_id, tags)
        if properties:
            self.ws.store.add_properties(self.run_id, properties)
        for rank, actor in enumerate(self.actors):
            if rank not in self.dead:
                try:
                    ray.get(actor.cleanup.remote(), timeout=PULL_TIMEOUT_S)
                except (ray.exceptions.RayActorError, ray.exceptions.GetTimeoutError):
                    pass
            ray.kill(actor)
        remove_placement_group(self.group)

"""Distributed runs on Ray: one placement-group bundle per process.

Used by :mod:`aml_jupyter.compute.cluster.ray_driver` (inside the run's Ray job) for a run with a
``distributed_job_config``. The job's driver reserves a placement group with one bundle of
``cpus_per_process``/``gpus_per_process`` per process (``STRICT_PACK`` for one node,
``SPREAD`` over several) while the run shows ``Queued``, then :class:`RaySupervisor` (the
local supervisor, with ranks that are Ray actors instead of child processes) starts one
:class:`RankProcess` actor in each bundle. Each actor runs the script on its node, in a scratch
workspace of its own, with ``RANK``, ``WORLD_SIZE``, ``MASTER_ADDR`` (rank 0's node) and the
rest; the driver pulls each rank's log and metrics (and rank 0's ./logs, ./outputs and tags)
into the run folder, which streams back to the submitter as for any Ray run. Cancel, a failing
rank and the time limit stop every rank, as on ``local``. A rank runs on another node: the
names, tags and properties it sends are checked before they are written, and a bad one fails
the run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from ...errors import AmlError
from ...paths import checked_relative_name
from ...status import RunStatus
from ...store.run_folder import (
    METRICS,
    STREAMED,
    TRACKED_FOLDERS,
    USER_LOGS,
    WORK_LOGS,
    process_log_name,
)
from ...tracking.workspace import Workspace
from ..local.ranks import free_port, process_environments
from ..local.supervisor import Supervisor, command_line, script_environment
from ..remote import append_chunk
from ..untrusted import checked_mapping

PUMP_S = 0.2
#: A rank's log in its own run folder, by the name it is sent under (the driver renames it).
RANK_LOG = f"{USER_LOGS}/rank.txt"


class RankProcess:
    """One process of a distributed run, on whichever node its bundle landed (a Ray actor)."""

    def __init__(self, run_id: str, experiment: str, rank: int) -> None:
        self.run_id, self.rank = run_id, rank
        self.home = Path(tempfile.mkdtemp(prefix=f"aml-rank{rank}-"))
        # A workspace of the rank's own, so Run.get_context() works on any node.
        self.ws = Workspace.create(self.home)
        self.ws.store.create_run(experiment, "azureml.scriptrun", RunStatus.RUNNING, run_id=run_id)
        self.folder = self.ws.store.run_folder(run_id)
        self.work = self.folder.work
        self.proc: subprocess.Popen[bytes] | None = None
        self.experiment = experiment

    def node_address(self) -> tuple[str, int]:
        """This node's IP and a free port (rank 0's are every rank's MASTER_ADDR/PORT)."""
        import ray

        return ray.util.get_node_ip_address(), free_port()

    def start(self, definition: dict[str, Any], rank_env: dict[str, str]) -> None:
        """Start the script from the job's working_dir (the snapshot) on this node."""
        shutil.copytree(os.getcwd(), self.work)
        for sub in TRACKED_FOLDERS:
            (self.work / sub).mkdir(exist_ok=True)
        self.folder.user_logs.mkdir(parents=True, exist_ok=True)
        env = {**script_environment(self.ws, self.run_id, self.experiment), **rank_env}
        with open(self.folder.path(RANK_LOG), "ab") as log:
            self.proc = subprocess.Popen(
                command_line(definition),
                cwd=self.work,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def wait(self) -> int:
        assert self.proc is not None
        return self.proc.wait()

    def signal(self, sig: int) -> None:
        """Signal the rank's whole process group."""
        if self.proc is not None:
            try:
                os.killpg(self.proc.pid, sig)
            except (ProcessLookupError, PermissionError):
                pass

    def poll(self, offsets: dict[str, int]) -> dict[str, bytes]:
        """What the rank's log, metrics (and for rank 0 its ./logs) gained past ``offsets``."""
        folders = (USER_LOGS, METRICS) + ((WORK_LOGS,) if self.rank == 0 else ())
        root, chunks = self.folder.root, {}
        for folder in folders:
            for dirpath, _, names in os.walk(root / folder):
                for name in names:
                    path = Path(dirpath) / name
                    rel = path.relative_to(root).as_posix()
                    held = offsets.get(rel, 0)
                    if path.stat().st_size > held:
                        with open(path, "rb") as f:
                            f.seek(held)
                            chunks[rel] = f.read(4 * 1024 * 1024)
        return chunks

    def results(self) -> dict[str, Any]:
        """Rank 0's ./outputs files and the tags and properties its script set."""
        outputs = {}
        for path in sorted(self.folder.outputs.rglob("*")):
            if path.is_file() and not path.is_symlink():
                outputs[path.relative_to(self.work).as_posix()] = path.read_bytes()
        records = self.ws.store
        return {
            "outputs": outputs,
            "tags": records.get_tags(self.run_id),
            "properties": records.get_properties(self.run_id),
        }

    def cleanup(self) -> None:
        self.ws.store.close()
        shutil.rmtree(self.home, ignore_errors=True)


def reserve_bundles(run_id: str, spec: dict[str, Any], cpus: float, gpus: float) -> Any:
    """A placement group with one bundle per process; returns once Ray has placed it."""
    import ray
    from ray.util.placement_group import placement_group

    bundle = {"CPU": float(cpus)} if cpus else {}
    if gpus:
        bundle["GPU"] = float(gpus)
    world = int(spec["nodeCount"]) * int(spec["processCountPerNode"])
    strategy = "STRICT_PACK" if int(spec["nodeCount"]) == 1 else "SPREAD"
    group = placement_group(
        [dict(bundle) for _ in range(world)], strategy=strategy, name=f"aml-{run_id}"
    )
    ready = group.ready()
    while not ray.wait([ready], timeout=30)[0]:
        # Said in the driver log, so a run Queued for good (a cluster too small) says why.
        total = {k: v for k, v in ray.cluster_resources().items() if k in ("CPU", "GPU")}
        print(
            f"[aml] Waiting for Ray to place {world} bundle(s) of {bundle} ({strategy}); the "
            f"cluster has {total} in all, part of it used by this job's driver and others.",
            flush=True,
        )
    return group


class _Rank:
    """What the supervisor's watch loop needs of a process: ``wait()`` and a ``pid``."""

    def __init__(self, actor: Any) -> None:
        self.actor = actor
        self.pid = None

    def wait(self) -> int:
        import ray

        try:
            return int(ray.get(self.actor.wait.remote()))
        except ray.exceptions.RayActorError:
            return -int(signal.SIGKILL)  # the actor (its node) died


class RaySupervisor(Supervisor):
    """The local supervisor with Ray actors as ranks (see the module docstring)."""

    def __init__(self, ws: Workspace, run_id: str, group: Any, cpus: float, gpus: float) -> None:
        super().__init__(ws, run_id)
        self.group, self.cpus, self.gpus = group, cpus, gpus
        self.actors: list[Any] = []
        self._pumping = threading.Event()
        self._pump_lock = threading.Lock()

    def _start_processes(
        self, definition: dict[str, Any], work: Path, experiment: str
    ) -> list[Any]:
        import ray
        from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy

        actor_class = ray.remote(RankProcess)
        envs = process_environments(definition["distributed"], 0)
        for rank in range(len(envs)):
            strategy = PlacementGroupSchedulingStrategy(
                self.group, placement_group_bundle_index=rank
            )
            self.actors.append(
                actor_class.options(
                    num_cpus=self.cpus,
                    num_gpus=self.gpus,
                    scheduling_strategy=strategy,
                    max_concurrency=4,
                ).remote(self.run_id, experiment, rank)
            )
        master, port = ray.get(self.actors[0].node_address.remote())
        for env in envs:
            env.update({"MASTER_ADDR": master, "MASTER_PORT": str(port)})
        ray.get([a.start.remote(definition, e) for a, e in zip(self.actors, envs, strict=True)])
        threading.Thread(target=self._pump_until_done, daemon=True).start()
        return [_Rank(a) for a in self.actors]

    def _pump_until_done(self) -> None:
        while not self._pumping.wait(PUMP_S):
            self._pump()

    def _pump(self) -> None:
        """Copy what each rank's folder gained into this run folder (rank logs renamed)."""
        import ray

        with self._pump_lock:
            for rank, actor in enumerate(self.actors):
                offsets = self._offsets(rank)
                try:
                    chunks = ray.get(actor.poll.remote(offsets))
                except ray.exceptions.RayActorError:
                    continue
                for name, data in chunks.items():
                    local = self._local_name(rank, str(name))
                    append_chunk(self.folder.root, local, data, STREAMED, f"rank {rank}")

    def _local_name(self, rank: int, name: str) -> str:
        if name == RANK_LOG:
            return process_log_name(rank)
        if name.startswith(f"{METRICS}/"):
            return f"{METRICS}/rank{rank}-{name.removeprefix(f'{METRICS}/')}"
        return name

    def _offsets(self, rank: int) -> dict[str, int]:
        offsets = {}
        log = self.folder.process_log(rank)
        offsets[RANK_LOG] = log.stat().st_size if log.exists() else 0
        for path in self.folder.metrics.glob(f"rank{rank}-*"):
            offsets[f"{METRICS}/{path.name.removeprefix(f'rank{rank}-')}"] = path.stat().st_size
        if rank == 0:
            for path in self.folder.logs.rglob("*"):
                if path.is_file():
                    offsets[path.relative_to(self.folder.root).as_posix()] = path.stat().st_size
        return offsets

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
            results = ray.get(self.actors[0].results.remote())
        except ray.exceptions.RayActorError:
            results = {"outputs": {}, "tags": {}, "properties": {}}
        for name, data in results["outputs"].items():
            clean = checked_relative_name(name, "output file name of rank 0")
            if not clean.startswith("outputs/"):
                raise AmlError(f"Rank 0 sent an output outside ./outputs: {name!r}.")
            path = self.folder.work / clean
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        tags = checked_mapping(results["tags"], "tags", "rank 0")
        properties = checked_mapping(results["properties"], "properties", "rank 0")
        if tags:
            self.ws.store.set_tags(self.run_id, tags)
        if properties:
            self.ws.store.add_properties(self.run_id, properties)
        for actor in self.actors:
            try:
                ray.get(actor.cleanup.remote())
            except ray.exceptions.RayActorError:
                pass
            ray.kill(actor)
        remove_placement_group(self.group)

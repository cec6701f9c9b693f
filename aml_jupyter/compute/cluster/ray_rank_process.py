"""A rank of a distributed Ray run: the actor that runs one process of the script on its node
(:class:`RankProcess`), driven by :class:`~.ray_ranks.RaySupervisor` in the job's driver.

Each actor has a scratch workspace of its own (so ``Run.get_context()`` works on any node),
copies the job's working_dir (the snapshot) as the run's work tree, lays out the run's datasets
on its node from the grants its driver sends, and starts the script with the rank's variables
and, for a run with secrets, the key in a pipe. The driver pulls what the rank's log, metrics
(and for rank 0 its ./logs) gained, and at the end rank 0's ./outputs, output datasets, tags
and properties.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from ...status import RunStatus
from ...store.run_folder import METRICS, TRACKED_FOLDERS, USER_LOGS, WORK_LOGS
from ...tracking import plugins
from ...tracking.workspace import Workspace
from ..local import run_data
from ..local.ranks import free_port
from ..local.script_process import command_line, script_environment
from ..local.sealed_secrets import close_fd, forget_ray_key, rank_secrets
from .process_age import process_age_s
from .ray_placement import node_of_actor

#: A rank's log in its own run folder, by the name it is sent under (the driver renames it).
RANK_LOG = f"{USER_LOGS}/rank.txt"


class RankProcess:
    """One process of a distributed run, on whichever node its bundle landed (a Ray actor)."""

    def __init__(self, run_id: str, experiment: str, rank: int) -> None:
        self.run_id, self.rank = run_id, rank
        forget_ray_key(run_id)  # Ray gives it to every process of the job; the driver sends ours
        self.home = Path(tempfile.mkdtemp(prefix=f"aml-rank{rank}-"))
        # A workspace of the rank's own, so Run.get_context() works on any node.
        self.ws = Workspace.create(self.home)
        self.ws.store.create_run(experiment, "azureml.scriptrun", RunStatus.RUNNING, run_id=run_id)
        self.folder = self.ws.store.run_folder(run_id)
        self.work = self.folder.work
        self.proc: subprocess.Popen[bytes] | None = None
        self.experiment = experiment
        #: The run as this rank started it (its output datasets are sent back from it).
        self.definition: dict[str, Any] = {}

    def node(self) -> dict[str, Any]:
        """This node's id and IP, and a free port (rank 0's: every rank's MASTER_ADDR/PORT)."""
        # How long this actor's process took from its start to here (Python, Ray, us).
        up_s = process_age_s()
        return {**node_of_actor(), "port": free_port(), "up_s": up_s and round(up_s, 2)}

    def start(
        self,
        definition: dict[str, Any],
        rank_env: dict[str, str],
        secrets: tuple[str, bytes | None] | None = None,
        grants: bytes | None = None,
    ) -> None:
        """Start the script from the job's working_dir (the snapshot) on this node
        (``secrets``: the run's key and sealed token, from the driver; ``grants``: how its
        datasets are read, from the driver: each rank fetches them onto its own node)."""
        shutil.copytree(os.getcwd(), self.work)
        for sub in TRACKED_FOLDERS:
            (self.work / sub).mkdir(exist_ok=True)
        self.folder.user_logs.mkdir(parents=True, exist_ok=True)
        self.definition = definition
        data_env: dict[str, str] = {}
        if grants is not None:
            definition = plugins.load("run_data.for_rank")(definition, grants)
            data_env = run_data.prepare(self.ws, self.run_id, definition)  # paths in arguments
        secret_env, key_fd = rank_secrets(self.folder, secrets)
        env = {**script_environment(self.ws, self.run_id, self.experiment), **data_env}
        env.update(rank_env)
        with open(self.folder.path(RANK_LOG), "ab") as log:
            self.proc = subprocess.Popen(
                command_line(definition),
                cwd=self.work,
                env={**env, **secret_env},
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                pass_fds=() if key_fd is None else (key_fd,),
            )
        close_fd(key_fd)

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
        data: dict[str, bytes] = {}  # its output datasets' files: "<output name>/<path>"
        for spec in self.definition.get("outputDatasets") or []:
            root = self.folder.dataset_output(spec["name"])
            for path in sorted(root.rglob("*")) if root.is_dir() else ():
                if path.is_file() and not path.is_symlink():
                    data[f"{spec['name']}/{path.relative_to(root).as_posix()}"] = path.read_bytes()
        return {
            "outputs": outputs,
            "data_outputs": data,
            "tags": records.get_tags(self.run_id),
            "properties": records.get_properties(self.run_id),
        }

    def cleanup(self) -> None:
        self.ws.store.close()
        shutil.rmtree(self.home, ignore_errors=True)

"""A run's live folder: what its target writes on the machine that runs it, while it runs.

The one place that knows its layout. Targets (the supervisor, the agent, the Ray driver, the
mirror of a remote run) write through these names; readers ask the store instead
(:meth:`~aml_jupyter.store.base.WorkspaceStore.read_log`, ``metric_points``,
``live_files`` ...), so a store elsewhere can serve the same streams.

Layout::

    <run id>/
      user_logs/std_log.txt             the driver log (rank 0's stdout and stderr)
      user_logs/std_log_process_<n>.txt  the log of process n of a distributed job
      system_logs/                      the supervisor's and mirror's own logs
      metrics/*.jsonl                   append-only metric files, one per writing process
      heartbeat                         touched by the run's owner: "I am alive"
      work/                             the script's working folder (its ./outputs, ./logs)
      datasets/inputs/<name>/           a dataset input mounted or downloaded for the script
      datasets/outputs/<name>/          an output dataset's folder, uploaded when the run ends
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

#: The folder of a run's own logs among its files.
USER_LOGS = "user_logs"
#: The driver log (the script's stdout and stderr), by its name among the run's files.
DRIVER_LOG = f"{USER_LOGS}/std_log.txt"
#: The environment build's log, beside the driver log.
BUILD_LOG = f"{USER_LOGS}/environment_build.txt"
#: The folder of the supervisor's and mirror's logs.
SYSTEM_LOGS = "system_logs"
#: The folder of a run's metric files.
METRICS = "metrics"
#: Folders of the working directory that belong to the run (kept as its files at the end).
TRACKED_FOLDERS = ("outputs", "logs")
#: The working folder's ``./logs`` (TensorBoard's), relative to the run folder.
WORK_LOGS = "work/logs"
#: What a run on another machine streams back to this one, as it grows.
STREAMED = (USER_LOGS, METRICS, WORK_LOGS)
#: ... and, from a compute instance, its system logs too.
MIRRORED = (USER_LOGS, SYSTEM_LOGS, METRICS, WORK_LOGS)
#: Room held for finalizing, released when the disk fills so the end can be recorded.
SPACE_RESERVE = f"{SYSTEM_LOGS}/space_reserve"
#: A Ray job driver's own output (Ray's logs, stack dumps): the run's system log there.
RAY_JOB_LOG = f"{SYSTEM_LOGS}/ray_job.txt"
_RESERVE_BYTES = 1 << 20
#: Where a remote run's stored files (its ./outputs) arrive, until their hashes are checked.
INCOMING = f"{SYSTEM_LOGS}/.incoming"


def process_log_name(rank: int) -> str:
    """The log of process ``rank`` of a job, among the run's files (rank 0: the driver log)."""
    return DRIVER_LOG if rank == 0 else f"{USER_LOGS}/std_log_process_{rank}.txt"


class RunFolder(NamedTuple):
    """The paths of one run's live folder (nothing is created until written)."""

    root: Path

    @property
    def driver_log(self) -> Path:
        return self.root / DRIVER_LOG

    @property
    def user_logs(self) -> Path:
        return self.root / USER_LOGS

    @property
    def system_logs(self) -> Path:
        return self.root / SYSTEM_LOGS

    def system_log(self, name: str) -> Path:
        """One of the run's system logs (``supervisor.log``, ``mirror.log``)."""
        return self.root / SYSTEM_LOGS / name

    def process_log(self, rank: int) -> Path:
        """The log of process ``rank`` (rank 0: the driver log)."""
        return self.root / process_log_name(rank)

    @property
    def build_log(self) -> Path:
        return self.root / BUILD_LOG

    @property
    def metrics(self) -> Path:
        return self.root / METRICS

    @property
    def heartbeat(self) -> Path:
        return self.root / "heartbeat"

    @property
    def work(self) -> Path:
        """The script's working folder."""
        return self.root / "work"

    @property
    def outputs(self) -> Path:
        """The script's ``./outputs``."""
        return self.root / "work" / "outputs"

    @property
    def logs(self) -> Path:
        """The script's ``./logs`` (TensorBoard's event files)."""
        return self.root / WORK_LOGS

    @property
    def datasets(self) -> Path:
        """The run's dataset folders (outside ``work/``: they are no part of its code)."""
        return self.root / "datasets"

    def dataset_input(self, name: str) -> Path:
        """Where input ``name`` is mounted or downloaded for the script."""
        return self.root / "datasets" / "inputs" / name

    def dataset_output(self, name: str) -> Path:
        """The folder the script writes output ``name`` to."""
        return self.root / "datasets" / "outputs" / name

    @property
    def space_reserve(self) -> Path:
        return self.root / SPACE_RESERVE

    @property
    def incoming(self) -> Path:
        """Where a remote run's stored files arrive, until their hashes are checked."""
        return self.root / INCOMING

    def reserve_space(self) -> None:
        """Hold room in the folder for finalizing (best effort): released when the disk fills,
        so the run's end can still be recorded."""
        path = self.space_reserve
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as f:
                f.write(b"\0" * _RESERVE_BYTES)
        except OSError:
            path.unlink(missing_ok=True)

    def path(self, name: str) -> Path:
        """A file by its name relative to the folder (names the caller checked already)."""
        return self.root / name

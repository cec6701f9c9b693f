"""The live folder of a deployed scoring service on this machine: the one place that knows its
layout (``<workspace>/services/<name>/``).

What a service *is* (its spec) is a record of the store (:class:`.types.ServiceRecord`); what it
*does* while it runs lives here, as files its processes write and the notebook reads: the
supervisor's pid, the ready flag its first worker raises, its log, one request-statistics file
per worker, and the copies of its models and source folder that it serves from.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..errors import AmlError

#: Where a workspace keeps its services' folders, one each.
SERVICES_DIR = "services"
#: Written by deployments before this change; read once to import them (see :mod:`.services`).
OLD_SPEC_FILE = "service.json"


def services_root(workspace_folder: Path) -> Path:
    """The folder holding a workspace's service folders."""
    return workspace_folder / SERVICES_DIR


def check_service_folder_name(name: str) -> str:
    """``name`` if it can name a folder of its own (never a path, never a hidden staging one)."""
    if (
        not isinstance(name, str)
        or not name
        or name.startswith(".")
        or any(c in name for c in "/\\\x00")
    ):
        raise AmlError(
            f"Service name {name!r} is not allowed: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit."
        )
    return name


class ServiceFolder:
    """The files of one service: ``ServiceFolder(root)``; ask the store for one
    (``store.service_folder(name)``) rather than building the path."""

    def __init__(self, root: Path) -> None:
        self.root = root

    # what is in it --------------------------------------------------------------------------
    @property
    def pid_file(self) -> Path:
        """The supervisor's ``pid start-time`` (the leader of the service's process group)."""
        return self.root / "pid"

    @property
    def ready_flag(self) -> Path:
        """Exists once a worker of the current start has loaded the model."""
        return self.root / "ready"

    @property
    def log(self) -> Path:
        """The service's output: init() and run() prints, errors, restarts."""
        return self.root / "service.log"

    @property
    def stats_folder(self) -> Path:
        """One append-only file of request figures per worker process."""
        return self.root / "stats"

    @property
    def source_folder(self) -> Path:
        """The copy of the entry script's folder the service runs."""
        return self.root / "source"

    @property
    def models_folder(self) -> Path:
        """The copies of the deployed models (``AZUREML_MODEL_DIR`` is in here)."""
        return self.root / "models"

    @property
    def environment_build_log(self) -> Path:
        """The log of building the service's environment (when it has a managed one)."""
        return self.root / "environment_build.txt"

    # reading and writing ----------------------------------------------------------------------
    def exists(self) -> bool:
        return self.root.is_dir()

    def read_pid(self) -> tuple[int | None, str | None]:
        """The supervisor's pid and start time, or ``(None, None)`` when none was recorded."""
        try:
            pid, started = self.pid_file.read_text().split()
            return int(pid), started
        except (OSError, ValueError):
            return None, None

    def write_pid(self, pid: int, started: str) -> None:
        self.pid_file.write_text(f"{pid} {started}\n")

    def clear_process_files(self) -> None:
        """Forget the processes of the last start (after they were stopped)."""
        self.pid_file.unlink(missing_ok=True)
        self.ready_flag.unlink(missing_ok=True)

    def stats_file(self, pid: int) -> Path:
        """The request-statistics file of worker ``pid``."""
        return self.stats_folder / f"{pid}.jsonl"

    def stats_files(self) -> list[Path]:
        """Every worker's statistics file, those of replaced workers too."""
        return sorted(self.stats_folder.glob("*.jsonl"))

    # laying it out ----------------------------------------------------------------------------
    def incoming(self) -> ServiceFolder:
        """Where a deployment is laid out before :meth:`publish` puts it in place (hidden: a
        failed deployment never shows a half-copied service); made empty."""
        staged = ServiceFolder(self.root.with_name(f".{self.root.name}.incoming"))
        staged.remove()  # what a deployment killed half-way left
        staged.root.mkdir(parents=True)
        return staged

    def publish(self, staged: ServiceFolder) -> None:
        """Move the laid-out ``staged`` folder into place (one rename)."""
        self.root.parent.mkdir(parents=True, exist_ok=True)
        staged.root.rename(self.root)

    def remove(self) -> None:
        """Delete the folder and all in it (a missing folder is fine)."""
        shutil.rmtree(self.root, ignore_errors=True)

    def __repr__(self) -> str:
        return f"ServiceFolder({str(self.root)!r})"


__all__ = ["ServiceFolder", "services_root"]

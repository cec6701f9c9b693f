"""What a scoring service on this machine is made of, below the ``Webservice`` classes: its
port, its copied source folder, its supervisor process (started detached, stopped by group)."""

from __future__ import annotations

import shutil
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .scoring_env import service_environment
from .scoring_workers import start_detached, stop_group

if TYPE_CHECKING:
    from ..store.service_folder import ServiceFolder
    from ..tracking.workspace import Workspace


def port_is_free(port: int) -> bool:
    """Whether a service could listen on ``port`` (as the server binds: closed connections
    still in TIME_WAIT do not count, a program listening there does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_folder(files: ServiceFolder) -> None:
    """End the processes a service folder records (its whole group, also when the supervisor
    is gone: workers it left may still hold the port) and forget them."""
    pid, started = files.read_pid()
    if pid:
        stop_group(pid, started or "")
    files.clear_process_files()


def start_service(
    workspace_folder: Path, name: str, spec: dict[str, Any], files: ServiceFolder
) -> None:
    """Start a service's supervisor detached (its own session and process group), logging
    to its log; the supervisor reads the service's record from the workspace store."""
    python = spec.get("python", sys.executable)
    argv = [python, "-m", "aml_jupyter.registry.scoring_server"]
    pid, started = start_detached(
        [*argv, str(workspace_folder), name],
        files.log,
        service_environment(spec, workspace_folder),
    )
    files.write_pid(pid, started)


def copy_source(workspace: Workspace, source: Path, destination: Path) -> None:
    """Copy an entry script's folder, never the workspace inside it (a source folder of "."
    in a project holding the workspace would copy the workspace into itself)."""
    skip = {Path(workspace.folder).resolve(), destination.resolve()}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if (Path(folder) / n).resolve() in skip}

    shutil.copytree(source, destination, ignore=ignore)

"""The log folders a ``Tensorboard`` serves: a run's live ``./logs``, or its stored ``logs/``
files copied to ``<local_root>/<run id>/``, named for ``--logdir_spec``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from ...errors import AmlError

if TYPE_CHECKING:
    from ...tracking.run import Run


def run_folders(
    runs: Sequence[Run], local_root: Path | None, use_display_name: bool, copy: bool
) -> list[tuple[str, Path]]:
    """``(name, log folder)`` per run; with ``copy``, stored logs are copied out first."""
    from ...status import RunStatus
    from ...tracking.run import SCRIPT_RUN

    folders: list[tuple[str, Path]] = []
    names: set[str] = set()
    for run in runs:
        live = run.experiment.workspace.store.run_folder(run.id).logs
        # A submitted run that has not started yet gets its live folder soon: watch it.
        if live.is_dir() or (run.type == SCRIPT_RUN and run.get_status() in RunStatus.ACTIVE):
            folder = live
        else:
            folder = root(local_root) / run.id
            if copy:
                folder.mkdir(parents=True, exist_ok=True)
                run.download_files(prefix="logs", output_directory=folder, append_prefix=False)
        name = run.display_name if use_display_name else run.id
        # ',' and ':' split --logdir_spec; a leading '/' would make the name a path.
        name = name.replace(",", "_").replace(":", "_").lstrip("/") or run.id
        if name in names:
            name = f"{name}_{run.id}"
        names.add(name)
        folders.append((name, folder))
    return folders


def root(local_root: Path | None) -> Path:
    """``local_root``, or an ``AmlError`` when there is none (no workspace to default to)."""
    if local_root is None:
        raise AmlError(
            "Tensorboard([]) serves local_root, and there is no workspace here to default "
            "to: pass local_root='path/to/logs' or some runs."
        )
    return local_root


def logdir(
    runs: Sequence[Run], local_root: Path | None, use_display_name: bool, copy: bool
) -> tuple[str, str]:
    """TensorBoard's flag and its value: ``--logdir_spec`` for runs, else ``--logdir``."""
    if not runs:
        folder = root(local_root)
        if copy:
            folder.mkdir(parents=True, exist_ok=True)
        return "--logdir", str(folder)
    specs = []
    folders = run_folders(runs, local_root, use_display_name, copy)
    for name, folder in sorted(folders, key=lambda item: str(item[1])):
        if "," in str(folder):
            raise AmlError(
                f"TensorBoard cannot read a folder whose path has a comma: {folder}. "
                "Move the workspace to a path without commas."
            )
        specs.append(f"{name}:{folder}")
    return "--logdir_spec", ",".join(specs)

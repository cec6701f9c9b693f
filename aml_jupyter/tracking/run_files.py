"""A run's files: uploads, ``./outputs`` and ``./logs`` harvested at the end, the driver log.

Names are run-relative POSIX paths (``outputs/model.pkl``); anything absolute or with ``..``
is refused. While a run is live its ``outputs/`` and ``logs/`` are read from its working
folder, so they show up before the run ends.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, BinaryIO

from ..errors import AmlError
from ..paths import checked_relative_name

if TYPE_CHECKING:
    from .workspace import Workspace

#: TensorBoard event files, by name: ``logs/**/events.out.tfevents.*``.
EVENTS_MARK = "events.out.tfevents."


def has_event_files(names: Iterable[str]) -> bool:
    """True when some run file is a TensorBoard event file under ``logs/``."""
    return any(n.startswith("logs/") and EVENTS_MARK in PurePosixPath(n).name for n in names)


class RunFiles:
    """File methods of :class:`aml_jupyter.Run` (v1 names)."""

    _ws: Workspace
    _id: str

    def get_file_names(self) -> list[str]:
        """Names of every file of the run, sorted."""
        stored = {r.name for r in self._ws.store.list_files(self._id)}
        return sorted(stored | set(self._ws.store.live_files(self._id)))

    def get_file_info(self) -> list[dict[str, object]]:
        """Every file of the run with its size, sorted by name.

        ``live`` is True for a file read from the run's folder (a running run's outputs and
        logs, the driver log) rather than the store.
        """
        files: dict[str, dict[str, object]] = {
            r.name: {"name": r.name, "size": r.size, "live": False}
            for r in self._ws.store.list_files(self._id)
        }
        for name, size in self._ws.store.live_files(self._id).items():
            if name not in files:
                files[name] = {"name": name, "size": size, "live": True}
        return [files[n] for n in sorted(files)]

    def open_file(self, name: str) -> BinaryIO:
        """Run file ``name`` opened for binary reading (the caller closes it)."""
        name = checked_relative_name(name, "run file name")
        row = self._ws.store.get_file(self._id, name)
        if row is not None:
            return self._ws.blobs.open(row.sha256)
        return self._ws.store.open_live_file(self._id, name)

    def upload_file(
        self,
        name: str,
        path_or_stream: str | os.PathLike[str] | BinaryIO,
        datastore_name: str | None = None,
    ) -> str:
        """Store a file (a path or a binary stream) as run file ``name``; returns the name."""
        name = checked_relative_name(name, "run file name")
        if isinstance(path_or_stream, (str, os.PathLike)):
            if not os.path.isfile(path_or_stream):
                raise AmlError(
                    f"upload_file({name!r}): {os.fspath(path_or_stream)!r} is not a file."
                )
            sha, size = self._ws.blobs.put_file(path_or_stream)
        else:
            sha, size = self._ws.blobs.put_stream(path_or_stream)
        self._ws.store.add_files(self._id, [(name, sha, size)])
        return name

    def save_output(self, name: str, path: str | os.PathLike[str]) -> str:
        """Keep file ``path`` as run file ``outputs/<name>``; returns the run file's name.

        Called by the run's own script (``$AML_RUN_ID`` is this run), the file is copied into
        the run's live ``./outputs``, exactly where a script's own ``open("outputs/...")``
        writes, so every target brings it back as it brings ``./outputs`` (a remote node's,
        a Ray rank's); from anywhere else it is stored at once, as ``upload_file`` does.
        """
        run_name = checked_relative_name(f"outputs/{name}", "run file name")
        if not os.path.isfile(path):
            raise AmlError(f"save_output({name!r}): {os.fspath(path)!r} is not a file.")
        work = self._ws.store.run_folder(self._id).work
        if self._is_own_script() and work.is_dir():
            destination = work / run_name
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, destination)
            return run_name
        return self.upload_file(run_name, path)

    def _is_own_script(self) -> bool:
        """True in a process its target started for this run (the ids ``Run.get_context``
        reads)."""
        from .workspace import ENV_VAR, _workspace_folder

        folder = os.environ.get(ENV_VAR)
        return (
            os.environ.get("AML_RUN_ID") == self._id
            and folder is not None
            and _workspace_folder(folder) == self._ws.folder
        )

    def upload_files(
        self,
        names: list[str],
        paths: list[str],
        return_artifacts: bool = False,
        timeout_seconds: int | None = None,
        datastore_name: str | None = None,
    ) -> list[str]:
        """Upload several files; ``names[i]`` gets ``paths[i]``."""
        if len(names) != len(paths):
            raise AmlError("upload_files needs as many names as paths.")
        checked = [checked_relative_name(n, "run file name") for n in names]
        for path in paths:
            if not os.path.isfile(path):
                raise AmlError(f"upload_files: {path!r} is not a file.")
        rows = [(n, *self._ws.blobs.put_file(p)) for n, p in zip(checked, paths, strict=True)]
        self._ws.store.add_files(self._id, rows)
        return checked

    def upload_folder(
        self, name: str, path: str | os.PathLike[str], datastore_name: str | None = None
    ) -> list[str]:
        """Upload every file under folder ``path`` as ``name/<relative path>``."""
        prefix = checked_relative_name(name, "run folder name")
        root = Path(path)
        if not root.is_dir():
            raise AmlError(f"upload_folder({name!r}): {os.fspath(path)!r} is not a folder.")
        rows = []
        for full in sorted(p for p in root.rglob("*") if p.is_file()):
            rows.append(
                (f"{prefix}/{full.relative_to(root).as_posix()}", *self._ws.blobs.put_file(full))
            )
        self._ws.store.add_files(self._id, rows)
        return [r[0] for r in rows]

    def _copy_out(self, name: str, destination: Path) -> None:
        row = self._ws.store.get_file(self._id, name)
        if row is not None:
            self._ws.blobs.copy_to(row.sha256, destination)
            return
        with self._ws.store.open_live_file(self._id, name) as src:
            destination.parent.mkdir(parents=True, exist_ok=True)
            with open(destination, "wb") as out:
                shutil.copyfileobj(src, out)

    def download_file(
        self,
        name: str,
        output_file_path: str | os.PathLike[str] | None = None,
        _validate_checksum: bool = False,
    ) -> str:
        """Copy run file ``name`` to ``output_file_path`` (default: its base name here).

        An existing folder as ``output_file_path`` receives the file under its base name.
        """
        name = checked_relative_name(name, "run file name")
        dest = Path(output_file_path) if output_file_path is not None else Path(Path(name).name)
        if dest.is_dir():
            dest = dest / Path(name).name
        self._copy_out(name, dest)
        return str(dest)

    def download_files(
        self,
        prefix: str | None = None,
        output_directory: str | os.PathLike[str] | None = None,
        output_paths: list[str] | None = None,
        batch_size: int = 100,
        append_prefix: bool = True,
        timeout_seconds: int | None = None,
    ) -> list[str]:
        """Copy every run file under ``prefix`` into ``output_directory`` (default: here).

        With ``append_prefix=False`` the prefix is cut from the written paths.
        """
        clean = checked_relative_name(prefix, "prefix") if prefix else ""
        out_dir = Path(output_directory or ".")
        written = []
        for name in self.get_file_names():
            if clean and not (name == clean or name.startswith(clean.rstrip("/") + "/")):
                continue
            rel = (
                name
                if append_prefix or not clean
                else name[len(clean) :].lstrip("/") or Path(name).name
            )
            dest = out_dir / checked_relative_name(rel, "run file name")
            self._copy_out(name, dest)
            written.append(str(dest))
        return written

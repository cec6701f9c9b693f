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
from ..paths import checked_relative_name, utf8_name

if TYPE_CHECKING:
    from .workspace import Workspace

#: The folder of a run's own logs: the driver log, one log per process of a distributed job.
USER_LOGS = "user_logs"
#: Where the driver log (the script's stdout and stderr) lives among a run's files.
DRIVER_LOG = f"{USER_LOGS}/std_log.txt"
#: Folders of the working directory that belong to the run.
TRACKED_FOLDERS = ("outputs", "logs")
#: TensorBoard event files, by name: ``logs/**/events.out.tfevents.*``.
EVENTS_MARK = "events.out.tfevents."


def has_event_files(names: Iterable[str]) -> bool:
    """True when some run file is a TensorBoard event file under ``logs/``."""
    return any(n.startswith("logs/") and EVENTS_MARK in PurePosixPath(n).name for n in names)


class RunFiles:
    """File methods of :class:`aml_jupyter.Run` (v1 names)."""

    _ws: Workspace
    _id: str

    @property
    def folder(self) -> Path:  # provided by Run
        raise NotImplementedError

    def _live_files(self) -> dict[str, Path]:
        """Files not (yet) in the store: the driver log and a live run's outputs and logs.

        Symbolic links are never listed or followed (a script's ``outputs/passwd ->
        /etc/passwd`` must not serve the machine's files), nor is a tracked folder that is
        itself a link.
        """
        live: dict[str, Path] = {}
        work = self.folder / "work"
        for root, sub in [(self.folder, USER_LOGS)] + [(work, s) for s in TRACKED_FOLDERS]:
            if (root / sub).is_symlink():
                continue
            for dirpath, _, filenames in os.walk(root / sub):
                for f in filenames:
                    full = Path(dirpath) / f
                    if not full.is_symlink():
                        live[utf8_name(full.relative_to(root).as_posix())] = full
        return live

    def _open_live(self, path: Path) -> BinaryIO:
        """Open a live file without following a link, and only inside the run's folder."""
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise AmlError(f"Run {self._id}: {path.name!r} cannot be read ({exc}).") from exc
        real = Path(os.path.realpath(f"/proc/self/fd/{fd}" if os.path.isdir("/proc") else path))
        if not real.is_relative_to(Path(os.path.realpath(self.folder))):
            os.close(fd)  # a folder on its path was swapped for a link since it was listed
            raise AmlError(f"Run {self._id}: {path.name!r} lies outside the run; not served.")
        return os.fdopen(fd, "rb")

    def get_file_names(self) -> list[str]:
        """Names of every file of the run, sorted."""
        stored = {r.name for r in self._ws.store.list_files(self._id)}
        return sorted(stored | set(self._live_files()))

    def get_file_info(self) -> list[dict[str, object]]:
        """Every file of the run with its size, sorted by name.

        ``live`` is True for a file read from the run's folder (a running run's outputs and
        logs, the driver log) rather than the store.
        """
        files: dict[str, dict[str, object]] = {
            r.name: {"name": r.name, "size": r.size, "live": False}
            for r in self._ws.store.list_files(self._id)
        }
        for name, path in self._live_files().items():
            if name not in files:
                try:
                    files[name] = {"name": name, "size": path.stat().st_size, "live": True}
                except FileNotFoundError:  # deleted by the script since the folder was walked
                    continue
        return [files[n] for n in sorted(files)]

    def open_file(self, name: str) -> BinaryIO:
        """Run file ``name`` opened for binary reading (the caller closes it)."""
        name = checked_relative_name(name, "run file name")
        row = self._ws.store.get_file(self._id, name)
        if row is not None:
            return open(self._ws.blobs.path(row.sha256), "rb")
        path = self._live_files().get(name)
        if path is None:
            raise AmlError(
                f"Run {self._id} has no file {name!r}. run.get_file_names() lists its files."
            )
        return self._open_live(path)

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
        live = self._live_files().get(name)
        if live is None:
            raise AmlError(
                f"Run {self._id} has no file {name!r}. run.get_file_names() lists its files."
            )
        destination.parent.mkdir(parents=True, exist_ok=True)
        with self._open_live(live) as src, open(destination, "wb") as out:
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

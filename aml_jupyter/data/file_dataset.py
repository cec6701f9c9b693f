"""``FileDataset``: a set of files (v1's), handed to code as local paths.

``download`` copies the files into a folder; ``mount`` gives a local folder without FUSE: for
files on this machine, links to the files themselves; for remote stores, links into a local
download cache (kept by content, so a second mount of the same bytes downloads nothing).
``take``/``skip``/``random_split`` pick files, in name order, and are recorded like a tabular
dataset's transforms.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .abstract_dataset import AbstractDataset
from .partitioned import Partitioned
from .sources import FileEntry, Resolved
from .tabular_dataset import _count, split_steps

if TYPE_CHECKING:
    from types import TracebackType

    from .consumption import DatasetConsumptionConfig

Files = list[tuple[Resolved, FileEntry]]
#: The modification time of a cached copy whose source gave none (any fixed value will do).
_CACHED_MTIME_NS = 1_000_000_000


class FileDataset(Partitioned, AbstractDataset):
    """Files in datastores, at URLs or on this machine (v1's ``FileDataset``)."""

    _kind = "file"

    # transforms ---------------------------------------------------------------------------
    def take(self, count: int) -> FileDataset:
        """The first ``count`` files (by name)."""
        return self._derive({"op": "take", "count": _count(count, "count")})

    def skip(self, count: int) -> FileDataset:
        """All files after the first ``count`` (by name)."""
        return self._derive({"op": "skip", "count": _count(count, "count")})

    def take_sample(self, probability: float, seed: int | None = None) -> FileDataset:
        """Each file kept with ``probability`` (deterministic with a seed)."""
        first, _ = split_steps(probability, seed)
        return self._derive(first)

    def random_split(
        self, percentage: float, seed: int | None = None
    ) -> tuple[FileDataset, FileDataset]:
        """Two datasets: about ``percentage`` of the files, and the others (disjoint)."""
        first, second = split_steps(percentage, seed)
        return self._derive(first), self._derive(second)

    def _selected(self) -> Files:
        """The files after the recorded transforms (checked first if registered)."""
        import numpy as np

        files = self._checked_files()
        for step in self._definition["transforms"]:
            op = step.get("op")
            if op == "skip":
                files = files[int(step["count"]) :]
            elif op == "take":
                files = files[: int(step["count"])]
            elif op == "split":
                draws = np.random.default_rng(step.get("seed")).random(len(files))
                share = float(step["percentage"])
                keep = draws < share if int(step.get("part", 0)) == 0 else draws >= share
                files = [f for f, k in zip(files, keep, strict=True) if k]
            else:
                raise AmlError(f"A file dataset transform is unreadable: {op!r}.")
        return files

    # reading ------------------------------------------------------------------------------
    def to_path(self) -> list[str]:
        """The files' names in the dataset, as v1 gives them ('/folder/file.csv')."""
        return ["/" + entry.rel for _, entry in self._selected()]

    def download(
        self,
        target_path: str | os.PathLike[str] | None = None,
        overwrite: bool = False,
        ignore_not_found: bool = False,
    ) -> list[str]:
        """Copy the files into ``target_path`` (default: a new temp folder), keeping their
        names; returns the local paths. A file there already is an error unless
        ``overwrite``; each file is written to a temporary name first, so an interrupted
        download never leaves a partial file under a real name."""
        files = self._selected()
        target = (
            Path(target_path)
            if target_path is not None
            else Path(tempfile.mkdtemp(prefix="aml-dataset-"))
        )
        targets = [target / entry.rel for _, entry in files]
        if not overwrite:
            there = [str(t) for t in targets if t.exists()]
            if there:
                raise AmlError(
                    f"{len(there)} file(s) exist already, e.g. {there[0]}; pass overwrite=True "
                    "to replace them."
                )
        for (resolved, entry), local in zip(files, targets, strict=True):
            _copy(resolved, entry, local)
        return [str(t.resolve()) for t in targets]

    def mount(
        self, mount_point: str | os.PathLike[str] | None = None, **kwargs: Any
    ) -> MountContext:
        """A local folder with the files (v1's mount, without FUSE): use it as ``with
        ds.mount() as m: os.listdir(m.mount_point)``, or ``start()`` / ``stop()``."""
        return MountContext(self, mount_point)

    # into runs ------------------------------------------------------------------------------
    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        from .consumption import DatasetConsumptionConfig

        return DatasetConsumptionConfig("input", self, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        from .consumption import DatasetConsumptionConfig

        return DatasetConsumptionConfig("input", self, "download", path_on_compute)

    def _cache_dir(self) -> Path:
        if self._workspace is not None:
            return Path(self._workspace.folder) / "cache" / "datasets"
        return Path(tempfile.gettempdir()) / f"aml-dataset-cache-{os.getuid()}"


def _copy(resolved: Resolved, entry: FileEntry, local: Path) -> None:
    local.parent.mkdir(parents=True, exist_ok=True)
    partial = local.with_name(f".{local.name}.aml-partial")
    try:
        if resolved.fs is None:
            shutil.copyfile(entry.fs_path, partial)
        else:
            resolved.fs.get_file(entry.fs_path, str(partial))
        os.replace(partial, local)
    except Exception as exc:  # OSError, or a remote backend's own error
        partial.unlink(missing_ok=True)
        raise AmlError(
            f"Cannot copy {entry.fs_path} to {local}: {type(exc).__name__}: {exc}"
        ) from exc


class MountContext:
    """A dataset's files under one local folder, ``mount_point``, while started."""

    def __init__(self, dataset: FileDataset, mount_point: str | os.PathLike[str] | None) -> None:
        self._dataset = dataset
        self._given = Path(mount_point) if mount_point is not None else None
        self._links: list[Path] = []
        self._made: list[Path] = []
        self.mount_point: str | None = str(self._given) if self._given else None

    def start(self) -> None:
        """Lay out the files (links; remote files are downloaded into the cache first)."""
        files = self._dataset._selected()
        if self._given is not None:
            if self._given.exists() and (not self._given.is_dir() or any(self._given.iterdir())):
                raise AmlError(f"The mount point {self._given} must be an empty folder.")
            if not self._given.exists():
                self._given.mkdir(parents=True)
                self._made.append(self._given)
            root = self._given
        else:
            root = Path(tempfile.mkdtemp(prefix="aml-mount-"))
            self._made.append(root)
        cache = self._dataset._cache_dir()
        try:
            for resolved, entry in files:
                link = root / entry.rel
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(_local_copy(cache, resolved, entry))
                self._links.append(link)
        except BaseException:
            self.stop()
            raise
        self.mount_point = str(root)

    def stop(self) -> None:
        """Remove the links and the folders made for them (the files themselves stay)."""
        for link in reversed(self._links):
            link.unlink(missing_ok=True)
        self._links.clear()
        if self.mount_point:
            root = Path(self.mount_point)
            for folder in sorted(
                (p for p in root.rglob("*") if p.is_dir() and not p.is_symlink()), reverse=True
            ):
                if not any(folder.iterdir()):
                    folder.rmdir()
        for folder in self._made:
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self._made.clear()

    def __enter__(self) -> MountContext:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _local_copy(cache: Path, resolved: Resolved, entry: FileEntry) -> Path:
    """Where a file can be read locally: itself, or its copy in the download cache (keyed by
    its URL and stat, so a changed remote file is downloaded again)."""
    if resolved.fs is None:
        return Path(entry.fs_path).resolve()
    key = f"{resolved.fs.protocol}|{entry.fs_path}|{entry.size}|{entry.mtime_ns}|{entry.etag}"
    digest = hashlib.sha256(key.encode()).hexdigest()
    local = cache / digest[:2] / digest[2:] / Path(entry.rel).name
    stamp = entry.mtime_ns or _CACHED_MTIME_NS
    try:
        st = local.stat()
        if st.st_size == entry.size and st.st_mtime_ns == stamp:
            return local
        # Written to since (a script wrote through a mount's link): never handed out again.
        os.chmod(local, 0o644)
        local.unlink()
    except FileNotFoundError:
        pass
    _copy(resolved, entry, local)
    # Read-only, and stamped: a later mount finds it as downloaded or downloads it again.
    os.chmod(local, 0o444)
    os.utime(local, ns=(stamp, stamp))
    return local

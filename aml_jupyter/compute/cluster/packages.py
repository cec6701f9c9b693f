"""A Ray job's packages: the run's snapshot (``working_dir``) and aml_jupyter (``py_modules``).

Ray keeps uploaded zips by name (``gcs://_ray_pkg_<hash>.zip``) and accepts any such name
that was uploaded, so we name them by content ourselves rather than by Ray's hash (a SHA-1
over every file, read again at each submit): a snapshot's id already is the hash of its
files, so an unchanged folder costs one ``GET`` to learn the cluster has it; aml_jupyter
(~150 files) is hashed at each submit in a few milliseconds. The price: Ray's own client
submitting the same folder uploads it once more under Ray's name (no de-dup across tools).
A zip is built (from the workspace's blobs, no copy of the folder) only when the cluster
lacks it.
"""

from __future__ import annotations

import hashlib
import os
import py_compile
import shutil
import sys
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

from ...paths import PACKAGE_DIR

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...store.blobs import BlobStore
    from .jobs_api import RayJobs

#: Changes when the layout of our zips does (a new name for the same content).
LAYOUT = b"aml-ray-package-2"
#: Parts of aml_jupyter a job never imports (the JupyterLab extension's static files).
_SKIP_DIRS = {"__pycache__", "labextension"}


def _uri(digest: str) -> str:
    return f"gcs://_ray_pkg_{digest[:40]}.zip"


def snapshot_uri(snapshot: Snapshot) -> str:
    """The working_dir package of a snapshot, named by its id (the hash of its files)."""
    return _uri(hashlib.sha256(LAYOUT + b"\0snapshot\0" + snapshot.id.encode()).hexdigest())


def module_files() -> list[tuple[str, Path]]:
    """aml_jupyter's files as ``(name in the zip, path)``, sorted: ``aml_jupyter/...``."""
    files = []
    root = PACKAGE_DIR.parent
    for dirpath, dirnames, names in os.walk(PACKAGE_DIR):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        for name in sorted(names):
            if not name.endswith((".pyc", ".pyo")):
                path = Path(dirpath) / name
                files.append((path.relative_to(root).as_posix(), path))
    return files


def module_uri(files: list[tuple[str, Path]]) -> str:
    """The py_modules package of aml_jupyter, named by the hash of its names and bytes (and
    the bytecode's Python, :func:`compiled`)."""
    digest = hashlib.sha256(LAYOUT + b"\0modules\0" + sys.implementation.cache_tag.encode())
    for name, path in files:
        digest.update(name.encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return _uri(digest.hexdigest())


def compiled(files: list[tuple[str, Path]], folder: Path) -> list[tuple[str, Path]]:
    """Bytecode of aml_jupyter's modules for the package, written under ``folder``.

    A job's driver imports aml_jupyter from the extracted package: without bytecode each job
    compiles it again (~0.3 s; every time where ``PYTHONDONTWRITEBYTECODE`` is set). Checked
    against nothing (``UNCHECKED_HASH``): the package is named by its content, so its sources
    never change under it. A cluster on another Python ignores it (the tag is in the name).
    """
    tag = sys.implementation.cache_tag
    out = []
    for name, path in files:
        if name.endswith(".py"):
            folder_name, _, stem = name[:-3].rpartition("/")
            pyc = f"{folder_name}/__pycache__/{stem}.{tag}.pyc"
            py_compile.compile(
                str(path),
                cfile=str(folder / pyc),
                dfile=name,
                doraise=True,
                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH,
            )
            out.append((pyc, folder / pyc))
    return out


def _zip(dest: Path, entries: list[tuple[str, Path, bool]]) -> None:
    """``entries``: ``(name, file, executable)``; written to a temp file, then renamed."""
    tmp = dest.with_name(dest.name + f".{os.getpid()}.tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, path, executable in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (0o100755 if executable else 0o100644) << 16
            with open(path, "rb") as src, zf.open(info, "w") as out:
                while piece := src.read(1 << 20):
                    out.write(piece)
    os.replace(tmp, dest)


def upload(jobs: RayJobs, cache: Path, blobs: BlobStore, snapshot: Snapshot) -> tuple[str, str]:
    """Make sure the cluster has the snapshot's and aml_jupyter's packages; their URIs
    (``working_dir``, ``py_modules``). A zip built for an upload is kept in ``cache`` only
    while it is sent."""
    from ...snapshot.snapshot import entry_name

    files = module_files()
    uris = (snapshot_uri(snapshot), module_uri(files))
    bytecode = cache / f".bytecode.{os.getpid()}"
    builders = (
        lambda: [(entry_name(e.name), blobs.path(e.sha256), e.executable) for e in snapshot.files],
        lambda: [
            (name, path, os.access(path, os.X_OK))
            for name, path in files + compiled(files, bytecode)
        ],
    )
    try:
        for uri, entries in zip(uris, builders, strict=True):
            if jobs.package_exists(uri):
                continue
            zipped = cache / uri.rpartition("/")[2]
            _zip(zipped, entries())
            try:
                jobs.upload_package(uri, zipped)
            finally:
                zipped.unlink(missing_ok=True)
    finally:
        shutil.rmtree(bytecode, ignore_errors=True)
    return uris

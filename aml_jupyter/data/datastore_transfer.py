"""Copying files into and out of a datastore (v1's ``upload``, ``upload_files``, ``download``),
the same code for every kind, through the datastore's fsspec filesystem.

No half-written file ever looks complete:

- On a **folder** (a local datastore, ``workspaceblobstore``) and on the **local side of a
  download** a file is written to a temporary name beside its target
  (``.<name>.aml-partial-<id>``) and renamed over it when whole: a rename within a folder is
  atomic, so a reader sees the old file or the new one. Temporary names are never listed.
- On **Azure Blob and S3** each file is put straight at its name, and that is the atomic step:
  a blob's blocks (Put Block + Put Block List) and an S3 multipart upload
  (CompleteMultipartUpload) become visible only when committed, whole; a failed upload leaves
  nothing at the name (uncommitted blocks expire). A temporary prefix and a "move" would be
  worse there: an object store's rename is a server-side copy plus a delete, doubling the
  traffic and leaving a window where both or neither exist.

A folder upload that fails part-way leaves some of its files in place, each of them complete;
running it again skips those (``overwrite=False``) and sends the rest.
"""

from __future__ import annotations

import os
import posixpath
import sys
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .datastore import relative_path
from .datastore_reach import scrub

if TYPE_CHECKING:
    import fsspec

    from .datastore import Datastore

#: What marks a temporary name (never listed, never downloaded).
PARTIAL = ".aml-partial-"


def _is_local(fs: fsspec.AbstractFileSystem) -> bool:
    protocol = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocol or "local" in protocol


def _partial_name(target: str) -> str:
    head, name = posixpath.split(target)
    return posixpath.join(head, f".{name}{PARTIAL}{uuid.uuid4().hex[:12]}")


def _watched() -> bool:
    """Whether someone sees a bar: a notebook's kernel, or a terminal (not a pipe or a log)."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


def _progress(show: bool, total: int, what: str) -> Any:
    """An fsspec callback drawing a bar of files where someone watches (else nothing; the
    one-line summary after is printed all the same)."""
    from fsspec.callbacks import NoOpCallback, TqdmCallback

    if not show or total == 0 or not _watched():
        return NoOpCallback()
    from tqdm.auto import tqdm

    return TqdmCallback(
        tqdm_kwargs={"desc": what, "unit": "file", "leave": False},
        tqdm_cls=tqdm,
    )


def _under(fs: fsspec.AbstractFileSystem, root: str, prefix: str = "") -> list[str]:
    """Every file under ``root`` (none when it is missing) whose name below it starts with
    ``prefix``, temporary names left out."""
    try:
        found = fs.find(root, prefix=prefix) if prefix else fs.find(root)
    except FileNotFoundError:
        return []
    return [p for p in found if PARTIAL not in posixpath.basename(p)]


def _starting_with(fs: fsspec.AbstractFileSystem, datastore: Datastore, start: str) -> list[str]:
    """The files whose datastore path starts with ``start``, listing only what matches (an
    object store's listing by name prefix; a folder's matching entries)."""
    if not start:
        return _under(fs, datastore.fs_path())
    parent, base = posixpath.split(start)
    folder = datastore.fs_path(parent)
    if not _is_local(fs):
        return _under(fs, folder, prefix=base)
    found: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
    for entry in sorted(entries, key=lambda e: e.name):
        if not entry.name.startswith(base) or PARTIAL in entry.name:
            continue
        path = posixpath.join(folder, entry.name)
        if entry.is_dir(follow_symlinks=False):
            found.extend(_under(fs, path))
        elif entry.is_file():
            found.append(path)
    return found


def _failed(datastore: Datastore, what: str, exc: BaseException) -> AmlError:
    secrets = datastore._credentials().values()
    return AmlError(
        scrub(
            f"{what} failed: {type(exc).__name__}: {str(exc)[:300]}. Every file that landed is "
            "complete; run it again to send the rest (files there are skipped unless "
            "overwrite=True).",
            secrets,
        )
    )


def upload_folder(
    datastore: Datastore,
    src_dir: str | os.PathLike[str],
    target_path: str | None,
    overwrite: bool,
    show_progress: bool,
) -> int:
    """Upload every file under ``src_dir``; returns how many were sent."""
    src = Path(src_dir).expanduser()
    if not src.is_dir():
        raise AmlError(f"{str(src_dir)!r} is not a folder; upload() sends a folder's files.")
    pairs = []
    for folder, dirs, names in os.walk(src):
        dirs.sort()
        for name in sorted(names):
            path = Path(folder) / name
            if path.is_file():
                pairs.append((path, path.relative_to(src).as_posix()))
    return _upload(datastore, pairs, target_path, overwrite, show_progress)


def upload_files(
    datastore: Datastore,
    files: Iterable[str | os.PathLike[str]],
    relative_root: str | os.PathLike[str] | None,
    target_path: str | None,
    overwrite: bool,
    show_progress: bool,
) -> int:
    """Upload ``files``, each at its path relative to ``relative_root`` (default: their
    common folder, as v1); returns how many were sent."""
    if isinstance(files, (str, os.PathLike)):
        files = [files]
    paths = [Path(f).expanduser().absolute() for f in files]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise AmlError(f"Not files, so nothing was uploaded: {', '.join(missing[:5])}.")
    if not paths:
        return 0
    if relative_root is None:
        root = Path(os.path.commonpath([p.parent for p in paths]))
    else:
        root = Path(relative_root).expanduser().absolute()
    pairs = []
    for path in paths:
        try:
            pairs.append((path, path.relative_to(root).as_posix()))
        except ValueError:
            raise AmlError(
                f"{path} is not under relative_root {str(root)!r}; pass a relative_root that "
                "holds every file. Nothing was uploaded."
            ) from None
    return _upload(datastore, pairs, target_path, overwrite, show_progress)


def _upload(
    datastore: Datastore,
    pairs: list[tuple[Path, str]],
    target_path: str | None,
    overwrite: bool,
    show_progress: bool,
) -> int:
    base = relative_path(target_path)
    targets = [datastore.fs_path(posixpath.join(base, rel)) for _, rel in pairs]
    where = datastore.display_url(base)
    fs = datastore.filesystem()
    try:
        existing = set() if overwrite else set(_under(fs, datastore.fs_path(base)))
    except Exception as exc:
        raise _failed(datastore, f"Uploading to {where}", exc) from None
    todo = [(src, dst) for (src, _), dst in zip(pairs, targets, strict=True) if dst not in existing]
    callback = _progress(show_progress, len(todo), f"Uploading to {datastore.name}")
    try:
        if _is_local(fs):
            _put_local(fs, todo, callback)
        elif todo:
            fs.put([str(s) for s, _ in todo], [d for _, d in todo], callback=callback)
    except AmlError:
        raise
    except Exception as exc:
        raise _failed(datastore, f"Uploading to {where}", exc) from None
    finally:
        callback.close()
    if show_progress:
        skipped = len(pairs) - len(todo)
        note = f" ({skipped} already there kept; overwrite=True replaces them)" if skipped else ""
        print(f"Uploaded {len(todo)} files to {where}{note}.")
    return len(todo)


def _put_local(fs: fsspec.AbstractFileSystem, todo: list[tuple[Path, str]], callback: Any) -> None:
    """Copy to a temporary name beside each target, then rename over it."""
    import shutil

    callback.set_size(len(todo))
    for src, dst in todo:
        os.makedirs(posixpath.dirname(dst) or ".", exist_ok=True)
        partial = _partial_name(dst)
        try:
            shutil.copyfile(src, partial)
            os.replace(partial, dst)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        callback.relative_update(1)


def download(
    datastore: Datastore,
    target_path: str | os.PathLike[str],
    prefix: str | None,
    overwrite: bool,
    show_progress: bool,
) -> int:
    """Download the files whose datastore path starts with ``prefix`` (v1: a blob-name
    prefix, so ``'data/tr'`` matches ``data/train.csv``) into ``target_path``, keeping their
    paths; returns how many were written."""
    fs = datastore.filesystem()
    root = datastore.fs_path()
    start = relative_path(prefix)
    wanted = datastore.fs_path(start) if start else root
    try:
        listed = _starting_with(fs, datastore, start)
    except Exception as exc:
        raise _failed(datastore, f"Downloading from {datastore.display_url(start)}", exc) from None
    names = []
    for path in listed:
        if not path.startswith(wanted):  # (what a listing by prefix gave, checked again)
            continue
        rel = path[len(root) :].lstrip("/")
        try:
            clean = relative_path(rel)
        except AmlError:
            clean = ""
        if not clean or clean != rel:
            raise AmlError(
                f"{datastore.name} holds a file named {rel!r:.120}, which would land outside "
                f"{str(target_path)!r}; nothing was downloaded."
            )
        names.append((path, rel))
    target = Path(target_path).expanduser()
    todo = [(src, target / rel) for src, rel in names if overwrite or not (target / rel).exists()]
    callback = _progress(show_progress, len(todo), f"Downloading from {datastore.name}")
    partials: list[str] = []
    try:
        for _, local in todo:
            local.parent.mkdir(parents=True, exist_ok=True)
        partials = [_partial_name(local.as_posix()) for _, local in todo]
        if todo:
            fs.get([s for s, _ in todo], partials, callback=callback)
        for partial, (_, local) in zip(partials, todo, strict=True):
            os.replace(partial, local)
    except Exception as exc:
        for partial in partials:
            Path(partial).unlink(missing_ok=True)
        raise _failed(datastore, f"Downloading from {datastore.display_url(start)}", exc) from None
    finally:
        callback.close()
    if show_progress:
        kept = len(names) - len(todo)
        note = f" ({kept} there already kept; overwrite=True replaces them)" if kept else ""
        print(f"Downloaded {len(todo)} files to {target}{note}.")
    return len(todo)

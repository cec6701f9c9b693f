"""Where a dataset's files are: the ``path`` argument of v1's factories, parsed, and listed.

A source is a small JSON-able dict kept in the dataset's definition:

- ``{"datastore": name, "path": "rel/glob/**"}`` — a ``(datastore, path)`` tuple, or a v1
  DataReference-like object (``.datastore``, ``.path_on_datastore``);
- ``{"url": "memory://bucket/x/*.csv"}`` — an http(s) or any fsspec URL;
- ``{"local": "/abs/glob/*.csv"}`` — a local path or glob (v1 refused them; ours: resolved to
  an absolute path when the dataset is made, so it means the same files later).

Listing a source gives :class:`FileEntry` items, each named relative to the source's base (the
part of the path before the first wildcard; a file's folder for a single file), as v1's
``to_path()`` names them.
"""

from __future__ import annotations

import glob as globbing
import os
import posixpath
import re
import sys
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AmlError
from .datastore import relative_path

if TYPE_CHECKING:
    import fsspec

    from .datastore import Datastore

_WILDCARDS = ("*", "?", "[")
#: A URL's scheme (RFC 3986), or fsspec's chain of them (``simplecache::s3``); one letter is
#: a Windows drive, not a scheme.
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+::)*[A-Za-z][A-Za-z0-9+.-]+")


class FileEntry(NamedTuple):
    """One file of a dataset: its name in the dataset, where it is, and its stat."""

    rel: str
    fs_path: str
    size: int
    mtime_ns: int
    inode: int = 0
    etag: str | None = None


class Resolved(NamedTuple):
    """A source made concrete: its filesystem (None: local files), base and pattern."""

    fs: fsspec.AbstractFileSystem | None
    base: str
    pattern: str
    display: str


def has_wildcard(path: str) -> bool:
    return any(c in path for c in _WILDCARDS)


def parse_sources(
    path: Any, datastores: dict[str, Datastore] | None = None
) -> list[dict[str, str]]:
    """v1's ``path`` argument as a list of sources; datastores met on the way are added to
    ``datastores`` (by name) so an unregistered dataset can reach them without a workspace."""
    seen = datastores if datastores is not None else {}
    items = path if isinstance(path, list) else [path]
    if not items:
        raise AmlError("A dataset needs at least one path; got an empty list.")
    return [_one(item, seen) for item in items]


def _one(item: Any, datastores: dict[str, Datastore]) -> dict[str, str]:
    if isinstance(item, tuple):
        if len(item) != 2 or not isinstance(item[1], str) or not hasattr(item[0], "fs_path"):
            raise AmlError(
                f"A datastore path is a (datastore, 'relative/path') tuple; got {_short(item)}."
            )
        return _datastore_source(item[0], item[1], datastores)
    if hasattr(item, "datastore") and hasattr(item, "path_on_datastore"):
        return _datastore_source(item.datastore, item.path_on_datastore or "", datastores)
    if isinstance(item, os.PathLike):
        item = os.fspath(item)
    if not isinstance(item, str) or not item.strip():
        raise AmlError(
            "A dataset path is a (datastore, 'path') tuple, a list of them, a URL or a local "
            f"path; got {_short(item)}."
        )
    if "\x00" in item:
        raise AmlError("A dataset path may not contain a NUL character.")
    scheme, sep, rest = item.partition("://")
    if sep and _SCHEME.fullmatch(scheme):
        if scheme.lower() == "file":
            return {"local": _absolute(rest)}
        if scheme.lower() == "azureml":
            raise AmlError(
                f"azureml:// URLs ({item}) name a datastore: pass (datastore, 'path') instead."
            )
        return {"url": item}
    return {"local": _absolute(item)}


def _datastore_source(store: Any, path: str, datastores: dict[str, Datastore]) -> dict[str, str]:
    name = getattr(store, "name", None)
    if not isinstance(name, str) or not hasattr(store, "fs_path"):
        raise AmlError(f"{_short(store)} is not a datastore (Datastore.get(ws, name) gives one).")
    if not isinstance(path, str) or "\x00" in path:
        raise AmlError(f"A datastore path is a string without NUL characters; got {_short(path)}.")
    datastores[name] = store
    return {"datastore": name, "path": relative_path(path)}


def _absolute(path: str) -> str:
    text = os.path.expanduser(path)
    if text.startswith("~"):
        raise AmlError(f"The path {path!r} names a user's home that does not exist here.")
    return os.path.abspath(text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."


def describe(source: Mapping[str, str]) -> str:
    """A source as users wrote it (for messages)."""
    if "datastore" in source:
        return f"({source['datastore']}, {source['path']!r})"
    return source.get("url") or source.get("local") or repr(dict(source))


def resolve(source: Mapping[str, str], datastores: Mapping[str, Datastore]) -> Resolved:
    """Where ``source``'s files are: a datastore's filesystem, a URL's, or local files."""
    if "datastore" in source:
        store = datastores.get(source["datastore"])
        if store is None:
            raise AmlError(
                f"The dataset reads datastore {source['datastore']!r}, which this workspace "
                "does not have (or the dataset was made without a workspace)."
            )
        pattern = store.fs_path(source["path"])
        fs = store.filesystem()
        if _is_local(fs):
            fs = None
        return Resolved(fs, _base(pattern), pattern, store.display_url(source["path"]))
    if "url" in source:
        import fsspec

        try:
            fs, pattern = fsspec.core.url_to_fs(source["url"])
        except (ValueError, ImportError) as exc:
            raise AmlError(f"Cannot open {source['url']}: {exc}") from exc
        return Resolved(None if _is_local(fs) else fs, _base(pattern), pattern, source["url"])
    if "local" in source:
        pattern = source["local"]
        return Resolved(None, _base(pattern), pattern, pattern)
    raise AmlError(f"A dataset source is unreadable: {dict(source)!r}.")


def _is_local(fs: Any) -> bool:
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def _base(pattern: str) -> str:
    """The folder part of ``pattern`` before its first wildcard."""
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if has_wildcard(part):
            return "/".join(parts[:i]) or "/"
    return pattern


def list_source(resolved: Resolved) -> list[FileEntry]:
    """The files of a source, by path; a folder means every file under it. A missing path or
    a glob that matches nothing gives an empty list (callers decide what that means)."""
    if resolved.fs is None:
        return _list_local(resolved.base, resolved.pattern)
    return _list_remote(resolved.fs, resolved.base, resolved.pattern)


def _list_local(base: str, pattern: str) -> list[FileEntry]:
    if pattern.endswith("/**") and not has_wildcard(pattern[:-3]):
        pattern = pattern[:-3]  # v1's 'folder/**': every file under the folder, no glob needed
    if has_wildcard(pattern):
        if sys.version_info >= (3, 11):  # a folder's dotfiles are its files too
            matches = globbing.glob(pattern, recursive=True, include_hidden=True)
        else:
            matches = globbing.glob(pattern, recursive=True)
    else:
        matches = [pattern]
        if os.path.isfile(pattern):
            base = os.path.dirname(pattern)
    base = os.path.normpath(base)
    prefix = base.rstrip("/") + "/"
    found: dict[str, FileEntry] = {}

    def add(path: str, st: os.stat_result) -> None:
        # Plain string slicing: relpath/Path cost more than the stat itself (10,000 files).
        rel = path[len(prefix) :] if path.startswith(prefix) else os.path.relpath(path, base)
        found[rel] = FileEntry(rel, path, st.st_size, st.st_mtime_ns, st.st_ino)

    walked = ""
    for match in sorted(os.path.normpath(m) for m in matches):
        if walked and match.startswith(walked):
            continue  # inside a folder listed already ('**' gives every descendant too)
        if os.path.isdir(match):
            _walk(match, add)
            walked = match.rstrip("/") + "/"
        elif os.path.isfile(match):
            try:
                add(match, os.stat(match))
            except OSError as exc:
                raise AmlError(f"Cannot read {match}: {exc.strerror or exc}.") from exc
    return sorted(found.values())


def _walk(folder: str, add: Any) -> None:
    """Every file under ``folder`` (links to files count as files; links to folders are not
    followed, as os.walk does)."""
    try:
        entries = list(os.scandir(folder))
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                _walk(entry.path, add)
            elif entry.is_file():
                add(entry.path, entry.stat())
    except FileNotFoundError:
        return  # removed while listed: not there
    except OSError as exc:  # a file left out silently would be a dataset of other data
        raise AmlError(f"Cannot list {exc.filename or folder}: {exc.strerror or exc}.") from exc


def _list_remote(fs: fsspec.AbstractFileSystem, base: str, pattern: str) -> list[FileEntry]:
    try:
        if has_wildcard(pattern):
            infos: dict[str, Any] = fs.glob(pattern, detail=True)
        elif not fs.exists(pattern):
            return []
        elif fs.isfile(pattern):
            infos = {pattern: fs.info(pattern)}
            base = posixpath.dirname(pattern.rstrip("/"))
        else:
            infos = {pattern: fs.info(pattern)}
    except AmlError:
        raise
    except Exception as exc:  # each fsspec backend has its own errors (aiohttp, botocore ...)
        raise AmlError(
            f"Cannot list {pattern}: {type(exc).__name__}: {exc}. Check the address and that "
            "the store is reachable."
        ) from exc
    found: dict[str, FileEntry] = {}
    for path, info in infos.items():
        if info.get("type") == "directory":
            for sub, subinfo in fs.find(path, detail=True).items():
                _add_remote(found, fs, base, sub, subinfo)
        else:
            _add_remote(found, fs, base, path, info)
    return sorted(found.values())


def _add_remote(
    found: dict[str, FileEntry], fs: Any, base: str, path: str, info: Mapping[str, Any]
) -> None:
    path = fs._strip_protocol(path)
    stripped = fs._strip_protocol(base).rstrip("/")
    rel = path[len(stripped) :].lstrip("/") if path.startswith(stripped) else path
    etag = info.get("ETag") or info.get("etag") or info.get("md5")
    found[rel] = FileEntry(
        rel, path, int(info.get("size") or 0), _mtime_ns(info), 0, str(etag) if etag else None
    )


def _mtime_ns(info: Mapping[str, Any]) -> int:
    value = info.get(
        "mtime", info.get("LastModified", info.get("last_modified", info.get("created")))
    )
    if isinstance(value, datetime):
        return int(value.timestamp() * 1e9)
    if isinstance(value, (int, float)):
        return int(value * 1e9)
    return 0


def list_sources(
    sources: Iterable[Mapping[str, str]], datastores: Mapping[str, Datastore], *, strict: bool
) -> tuple[list[tuple[Resolved, FileEntry]], list[str]]:
    """Every file of every source (each once), and the sources that have none (``strict``:
    those are an :class:`AmlError` naming them)."""
    files: dict[tuple[int, str], tuple[Resolved, FileEntry]] = {}
    empty: list[str] = []
    resolved_all = []
    for source in sources:
        resolved = resolve(source, datastores)
        entries = list_source(resolved)
        if not entries:
            empty.append(resolved.display)
        resolved_all.append((resolved, entries))
    if strict and empty:
        raise AmlError(
            "No files at "
            + ", ".join(empty)
            + ": the path does not exist, the glob matches nothing, or the store cannot be "
            "reached. Check the path (validate=False makes the dataset anyway)."
        )
    if len(resolved_all) == 1:  # one source: its names are unique already, and in order
        resolved, entries = resolved_all[0]
        return [(resolved, entry) for entry in entries], empty
    names: dict[str, str] = {}
    for resolved, entries in resolved_all:
        fs_id = id(resolved.fs) if resolved.fs is not None else 0
        for entry in entries:
            key = (fs_id, entry.fs_path)
            if key in files:
                continue
            if entry.rel in names and names[entry.rel] != entry.fs_path:
                raise AmlError(
                    f"Two paths of the dataset give the same file name {entry.rel!r} "
                    f"({names[entry.rel]} and {entry.fs_path}): use one path above both."
                )
            names[entry.rel] = entry.fs_path
            files[key] = (resolved, entry)
    return sorted(files.values(), key=lambda item: item[1].rel), empty

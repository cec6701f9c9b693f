"""What pins a dataset version to content: each file's sha256, hashed once and remembered.

The workspace store's hash cache (the one snapshots use) keys a hash by a file's path and
stat: a local file by size, mtime (ns) and inode; a remote one by its URL with the ETag the
store reports, size and mtime (one with neither ETag nor mtime is hashed each time). A file whose key is unchanged is not read again, so checking a
10,000-file dataset that did not change is one listing and one cache lookup.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import AmlError
from ..store.blobs import hash_file
from .sources import FileEntry, Resolved

if TYPE_CHECKING:
    from ..store import WorkspaceStore

_CHUNK = 1 << 20


def _cache_key(resolved: Resolved, entry: FileEntry) -> str:
    if resolved.fs is None:
        return entry.fs_path
    protocol = resolved.fs.protocol
    scheme = protocol[0] if isinstance(protocol, (tuple, list)) else protocol
    key = f"{scheme}://{entry.fs_path}"
    return f"{key}#etag={entry.etag}" if entry.etag else key


def _hash_remote(resolved: Resolved, entry: FileEntry) -> str:
    digest = hashlib.sha256()
    assert resolved.fs is not None
    with resolved.fs.open(entry.fs_path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def hash_entries(
    store: WorkspaceStore | None, files: Sequence[tuple[Resolved, FileEntry]]
) -> list[str]:
    """The sha256 of each file, from the cache where its key is unchanged (no store: none)."""
    keys = [_cache_key(r, e) for r, e in files]
    cache = store.cached_hashes(keys) if store is not None else {}
    out: list[str] = []
    fresh: list[tuple[str, int, int, int, str]] = []
    for key, (resolved, entry) in zip(keys, files, strict=True):
        known = cache.get(key)
        # A remote file reported with neither ETag nor mtime (plain http) has no key that
        # changes with its bytes: it is read each time.
        trusted = resolved.fs is None or bool(entry.etag) or bool(entry.mtime_ns)
        if (
            trusted
            and known is not None
            and known.size == entry.size
            and known.mtime_ns == entry.mtime_ns
            and known.inode == entry.inode
        ):
            out.append(known.sha256)
            continue
        try:
            sha = hash_file(entry.fs_path) if resolved.fs is None else _hash_remote(resolved, entry)
        except Exception as exc:  # OSError, or a remote backend's own error
            raise AmlError(
                f"Cannot read {entry.fs_path} to hash it: {type(exc).__name__}: {exc}"
            ) from exc
        out.append(sha)
        fresh.append((key, entry.size, entry.mtime_ns, entry.inode, sha))
    if store is not None:
        store.cache_hashes(fresh)
    return out


def fingerprint(files: Iterable[tuple[str, int, str]]) -> str:
    """One hash of a file list ``(name, size, sha256)``: equal exactly when the bytes are."""
    rows = sorted(files)
    return hashlib.sha256(json.dumps(rows, separators=(",", ":")).encode()).hexdigest()


def changes(
    recorded: Iterable[tuple[str, int, str]], current: Iterable[tuple[str, int, str]]
) -> dict[str, list[str]]:
    """What differs between a version's files and the files there now: ``changed``,
    ``missing`` and ``added`` names (empty lists: the same bytes)."""
    old = {name: (size, sha) for name, size, sha in recorded}
    new = {name: (size, sha) for name, size, sha in current}
    return {
        "changed": sorted(n for n in old.keys() & new.keys() if old[n] != new[n]),
        "missing": sorted(old.keys() - new.keys()),
        "added": sorted(new.keys() - old.keys()),
    }

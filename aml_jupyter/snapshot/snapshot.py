"""Snapshots of a source folder: ignore rules, size limits, content-addressed storage.

Rules, as Azure ML v1 (minus its pain points):

* ``.amlignore`` in the folder if present, else its ``.gitignore`` (gitwildmatch syntax);
* never ``.git``, ``__pycache__``, ``.ipynb_checkpoints``, a workspace folder, or a virtualenv
  (any folder holding ``pyvenv.cfg``), whatever the ignore file says;
* at most 300 MiB and 2000 files unless configured otherwise (``max_bytes``/``max_files`` or
  ``AML_SNAPSHOT_MAX_BYTES``/``AML_SNAPSHOT_MAX_FILES``); the error names the largest offenders.

Each file is stored once by content; a stat cache means an unchanged folder is not even
re-read, so re-submitting it costs only a directory walk. A run gets its working folder from
:mod:`.worktree` (a cached, verified tree per snapshot), or as a fresh copy of the blobs.

The functions take what they need from the store layer (the workspace's store, or only its
blob store), never the workspace object of the tracking layer above.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from ..errors import AmlError
from ..paths import checked_relative_name
from ..store import hash_file

if TYPE_CHECKING:
    import pathspec

    from ..store import BlobStore, WorkspaceStore

DEFAULT_MAX_BYTES = 300 * 1024 * 1024
DEFAULT_MAX_FILES = 2000
ALWAYS_IGNORED = frozenset({".git", "__pycache__", ".ipynb_checkpoints", ".aml"})


class SnapshotEntry(NamedTuple):
    """One file of a snapshot."""

    name: str
    sha256: str
    size: int
    executable: bool


class Snapshot(NamedTuple):
    """A stored snapshot: its id is the hash of its manifest."""

    id: str
    files: tuple[SnapshotEntry, ...]

    @property
    def size(self) -> int:
        """Total bytes of the files."""
        return sum(f.size for f in self.files)


def _limit(value: int | None, env: str, default: int) -> int:
    if value is not None:
        return value
    raw = os.environ.get(env)
    return int(raw) if raw else default


def ignore_spec(source: Path) -> tuple[pathspec.PathSpec | None, str | None]:
    """The ignore rules of a source folder and the file they came from."""
    for name in (".amlignore", ".gitignore"):
        path = source / name
        if path.is_file():
            import pathspec  # ~50 ms to import: paid only when there are rules to apply

            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            return pathspec.GitIgnoreSpec.from_lines(lines), name
    return None, None


def list_files(source: Path) -> list[tuple[str, os.stat_result]]:
    """``(relative name, stat)`` of every file a snapshot of ``source`` takes, sorted."""
    spec, _ = ignore_spec(source)
    found: list[tuple[str, os.stat_result]] = []
    for dirpath, dirnames, filenames in os.walk(source):
        rel_dir = os.path.relpath(dirpath, source)
        rel_dir = "" if rel_dir == "." else rel_dir.replace(os.sep, "/") + "/"
        kept = []
        for d in dirnames:
            full = os.path.join(dirpath, d)
            if (
                d in ALWAYS_IGNORED
                or os.path.exists(os.path.join(full, "pyvenv.cfg"))
                or os.path.exists(os.path.join(full, "aml.db"))
                or os.path.islink(full)
                or (spec is not None and spec.match_file(rel_dir + d + "/"))
            ):
                continue
            kept.append(d)
        dirnames[:] = kept
        for f in filenames:
            rel = rel_dir + f
            if spec is not None and spec.match_file(rel):
                continue
            st = os.stat(os.path.join(dirpath, f))
            if stat.S_ISREG(st.st_mode):
                found.append((rel, st))
    found.sort()
    return found


def _check_limits(
    source: Path, files: list[tuple[str, os.stat_result]], max_bytes: int, max_files: int
) -> None:
    total = sum(st.st_size for _, st in files)
    if total <= max_bytes and len(files) <= max_files:
        return
    per_top: dict[str, list[int]] = {}
    for rel, st in files:
        top = rel.split("/", 1)[0] + ("/" if "/" in rel else "")
        entry = per_top.setdefault(top, [0, 0])
        entry[0] += st.st_size
        entry[1] += 1
    worst = sorted(per_top.items(), key=lambda kv: (kv[1][0], kv[1][1]), reverse=True)[:5]
    listing = ", ".join(f"{name} ({_size(size)}, {_files(n)})" for name, (size, n) in worst)
    ignore_file = ".amlignore" if (source / ".amlignore").exists() else ".amlignore (or .gitignore)"
    limits = [_files(max_files)] if len(files) > max_files else []
    limits += [_size(max_bytes)] if total > max_bytes else []
    raise AmlError(
        f"The snapshot of {source} has {_files(len(files))}, {_size(total)}: over the limit of "
        f"{' and '.join(limits)}. Largest: {listing}. Add what the run does "
        f"not need to {ignore_file} in that folder (e.g. a line 'data/'), or raise the limit with "
        "snapshot_max_bytes=/snapshot_max_files= or AML_SNAPSHOT_MAX_BYTES/AML_SNAPSHOT_MAX_FILES."
    )


def _files(count: int) -> str:
    return f"{count} file" if count == 1 else f"{count} files"


def _size(count: int) -> str:
    """A size for people, in the README's binary units: ``1 byte``, ``12 KiB``, ``300 MiB``."""
    if count < 1024:
        return "1 byte" if count == 1 else f"{count} bytes"
    value = float(count)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f}".removesuffix(".0") + f" {unit}"


def take_snapshot(
    store: WorkspaceStore,
    source: str | os.PathLike[str],
    *,
    extra_files: Mapping[str, bytes] | None = None,
    max_bytes: int | None = None,
    max_files: int | None = None,
) -> Snapshot:
    """Store the files of ``source`` (plus ``extra_files``, e.g. a notebook cell) in ``store``
    (its blobs, its hash cache and its list of snapshots) and return the snapshot."""
    root = Path(source).expanduser().resolve()
    if not root.is_dir():
        raise AmlError(f"The source folder {source!s} does not exist or is not a folder.")
    files = list_files(root)
    _check_limits(
        root,
        files,
        _limit(max_bytes, "AML_SNAPSHOT_MAX_BYTES", DEFAULT_MAX_BYTES),
        _limit(max_files, "AML_SNAPSHOT_MAX_FILES", DEFAULT_MAX_FILES)
        if not os.environ.get("AML_SNAPSHOT_NO_FILE_LIMIT")
        else len(files),
    )
    blobs = store.blobs
    full_paths = [str(root / rel) for rel, _ in files]
    cache = store.cached_hashes(full_paths)
    new_cache: list[tuple[str, int, int, int, str]] = []
    entries: list[SnapshotEntry] = []
    for (rel, st), full in zip(files, full_paths, strict=True):
        known = cache.get(full)
        if (
            known is not None
            and known.size == st.st_size
            and known.mtime_ns == st.st_mtime_ns
            and known.inode == st.st_ino
            and known.sha256 in blobs
        ):
            sha = known.sha256
        else:
            sha = hash_file(full)
            blobs.put_file(full, sha)
            new_cache.append((full, st.st_size, st.st_mtime_ns, st.st_ino, sha))
        entries.append(SnapshotEntry(rel, sha, st.st_size, bool(st.st_mode & 0o111)))
    for name, data in (extra_files or {}).items():
        sha, size = blobs.put_bytes(data)
        entries.append(SnapshotEntry(checked_relative_name(name, "file name"), sha, size, False))
    store.cache_hashes(new_cache)
    manifest = json.dumps(
        [[e.name, e.sha256, e.size, e.executable] for e in entries], separators=(",", ":")
    ).encode()
    snapshot_id, _ = blobs.put_bytes(manifest)
    store.add_snapshot(snapshot_id, len(entries), sum(e.size for e in entries))
    return Snapshot(snapshot_id, tuple(entries))


def load_snapshot(blobs: BlobStore, snapshot_id: str) -> Snapshot:
    """Read a stored snapshot's manifest from the blob store."""
    if snapshot_id not in blobs:
        raise AmlError(f"Snapshot {snapshot_id!r} is not in this workspace.")
    rows = json.loads(blobs.read_bytes(snapshot_id))
    return Snapshot(snapshot_id, tuple(SnapshotEntry(*row) for row in rows))


def entry_name(name: str) -> str:
    """A manifest entry's name, checked to stay inside the folder it is written to (see
    :func:`~aml_jupyter.paths.checked_relative_name`); a name that is clean already (as every
    name ``take_snapshot`` writes) is passed on a fast path, for 2,000-file snapshots."""
    parts = name.split("/") if isinstance(name, str) else []
    if (
        parts
        and name.strip()
        and "\\" not in name
        and "\x00" not in name
        and name[1:2] != ":"  # no drive letter
        and name.isascii()
        and all(p not in ("", ".", "..") for p in parts)
    ):
        return name
    return checked_relative_name(name, "snapshot entry")


def restore_entry(blobs: BlobStore, entry: SnapshotEntry, root: Path) -> Path:
    """Write one file of a snapshot under ``root`` as a copy of its blob (never a link into the
    store: a script that writes to its copy must not change the stored file); returns it."""
    target = root / entry_name(entry.name)
    blobs.copy_to(entry.sha256, target)
    if entry.executable:
        target.chmod(0o755)
    return target


def restore_snapshot(
    blobs: BlobStore, snapshot_id: str, destination: str | os.PathLike[str]
) -> Path:
    """Write the snapshot's files under ``destination`` (created if needed); returns it."""
    dest = Path(destination).expanduser().resolve()
    snapshot = load_snapshot(blobs, snapshot_id)
    dest.mkdir(parents=True, exist_ok=True)
    for entry in snapshot.files:
        restore_entry(blobs, entry, dest)
    return dest

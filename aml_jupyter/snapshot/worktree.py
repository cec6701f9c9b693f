"""Working folders for runs: a cached, verified tree per snapshot, so an unchanged folder starts
without copying its files again.

A run's script runs in a working folder that holds exactly its snapshot. Copying a 2,000-file
snapshot out of the blob store takes most of a second; instead the tree the last run of a
snapshot used is kept (in ``.aml/cache/worktrees/``), checked and handed to the next run::

    <snapshot id>/tree/        the files, as a run's working folder has them
    <snapshot id>/state.json   what was written there: each file's hash and ``lstat``
    .leased-* .incoming-*      an entry on its way out or in (left by a killed process: swept)

**Lease** (before the script starts, :meth:`WorkTrees.lease`): ``rename(<id>, .leased-…)`` is
atomic, so of two runs of one snapshot only one gets the tree and the other gets a fresh copy:
a tree is never shared by live runs. When this snapshot has no tree, the most recently used
tree of the same source folder (``family``) is taken instead, so a run after an edit copies
only what changed. The tree becomes the run's working folder (one more rename), then every
entry in it is compared with what was written (file type, size, mtime, ctime, inode, mode, and
the hash it was written from); what differs, is missing or was added since — whatever the
last script changed, links included — is removed and copied again from its blob. A script
cannot set ctime (``os.utime`` sets mtime only), so content written back with its old mtime
is still seen. The script starts only once the file system's clock has passed the ctime of
every file the refresh wrote (a tick, a few ms), and a stamp of that clock is kept: a file
whose ctime is not older than the stamp is copied again next time whatever its stat says
(git's "racily clean" files: a write within the same tick would leave its stat unchanged).

**Give back** (after the run's processes ended, before the run is finalized,
:meth:`WorkTreeLease.give_back`): the tree moves to ``.incoming-…`` with the state of what the
refresh wrote (not of what the script left), ``./outputs`` and ``./logs`` move back into the
run's (otherwise empty) working folder so each run keeps its own, and ``rename(.incoming-…,
<id>)`` publishes it whole (when another run published one first, ours is deleted).

Files are copies, never links into the blob store, so a script that writes to one cannot
change a stored blob (as root a read-only mode would not stop it). A crash leaves no
half-checked tree to reuse: an entry is only ever published whole, one taken out lies in a
run's folder or a ``.leased-``/``.incoming-`` folder and is never reused, and a torn or
missing ``state.json`` makes an entry worthless. The cache keeps at most
``AML_WORKTREE_CACHE_TREES`` trees (default 4; 0 turns it off) and
``AML_WORKTREE_CACHE_BYTES`` bytes (default 1 GiB); the least recently used go first. A
snapshot of fewer than ``AML_WORKTREE_CACHE_MIN_FILES`` files (default 32) is copied fresh.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .snapshot import Snapshot, entry_name, load_snapshot, restore_entry, restore_snapshot
from .worktree_state import TreeState, parents_of, remove_path, signature, unique_name

if TYPE_CHECKING:
    from ..store import BlobStore

#: Where a workspace keeps the trees, inside its folder.
FOLDER = Path("cache") / "worktrees"
MAX_TREES = 4
MAX_BYTES = 1 << 30
#: A snapshot of fewer files is copied fresh: writing a few small files costs less than
#: checking a cached tree and giving it back (~5 ms for a one-file folder).
MIN_FILES = 32
#: A ``.leased-``/``.incoming-`` folder this old was left by a process that died with it.
STALE_S = 3600.0
#: How long a refresh waits for the file system's clock to pass what it wrote (see _stamp_after).
RACY_WAIT_S = 0.05
STATE = "state.json"
TREE = "tree"
_LEFTOVERS = (".leased-", ".incoming-", ".evicting-", ".stamp-")


def _limit(value: int | None, env: str, default: int) -> int:
    if value is not None:
        return value
    raw = os.environ.get(env)
    return int(raw) if raw else default


class WorkTrees:
    """The cached working trees of one workspace (``root`` = ``<workspace>/cache/worktrees``)."""

    def __init__(
        self,
        root: str | os.PathLike[str],
        blobs: BlobStore,
        *,
        max_trees: int | None = None,
        max_bytes: int | None = None,
        min_files: int | None = None,
    ) -> None:
        self.root = Path(root)
        self.blobs = blobs
        self.max_trees = _limit(max_trees, "AML_WORKTREE_CACHE_TREES", MAX_TREES)
        self.max_bytes = _limit(max_bytes, "AML_WORKTREE_CACHE_BYTES", MAX_BYTES)
        self.min_files = _limit(min_files, "AML_WORKTREE_CACHE_MIN_FILES", MIN_FILES)

    def lease(
        self,
        snapshot_id: str,
        work: str | os.PathLike[str],
        *,
        keep: Iterable[str] = ("outputs", "logs"),
        family: str | None = None,
    ) -> WorkTreeLease:
        """Make ``work`` (a folder that must not exist yet) hold exactly the snapshot.

        ``keep``: the folders that belong to the run, not to the tree (they stay in ``work``
        when the tree is given back). ``family``: what the snapshot was taken of (its source
        folder), so a run after an edit can take the tree of the run before it.
        """
        snapshot = load_snapshot(self.blobs, snapshot_id)
        work = Path(work)
        lease = WorkTreeLease(self, snapshot, work, tuple(keep), family)
        small = len(snapshot.files) < self.min_files
        if os.path.lexists(work) or self.max_trees <= 0 or small:
            # A folder that is there already is not ours to empty: add the files, as ever.
            restore_snapshot(self.blobs, snapshot_id, work)
            lease.copied = len(snapshot.files)
            return lease
        self.root.mkdir(parents=True, exist_ok=True)
        old = self._take(snapshot.id, family, work)
        if old is not None:
            lease.reused_from = old.snapshot
            try:
                lease.state = self._refresh(snapshot, work, old, lease, family)
                return lease
            except OSError:  # a tree we cannot read or mend: start again from nothing
                remove_path(work)
                lease.reused_from = None
                lease.copied = lease.removed = 0
        lease.state = self._refresh(snapshot, work, None, lease, family)
        return lease

    # taking a tree out -----------------------------------------------------------------------
    def _take(self, snapshot_id: str, family: str | None, work: Path) -> TreeState | None:
        """Move a trusted tree to ``work``: this snapshot's, else the family's latest."""
        state = self._take_one(snapshot_id, work)
        if state is not None or family is None:
            return state
        for name, header, _ in self._entries():
            if header.get("family") == family and name != snapshot_id:
                state = self._take_one(name, work)
                if state is not None:
                    return state
        return None

    def _take_one(self, name: str, work: Path) -> TreeState | None:
        """Move the tree of snapshot ``name`` to ``work`` if it is there and trusted."""
        taken = self.root / f".leased-{unique_name()}"
        try:
            os.rename(self.root / name, taken)  # atomic: one run gets it, or none
        except OSError:
            return None  # none cached, or another run took it first
        state = TreeState.read(taken / STATE, name)
        try:
            if state is not None:
                os.rename(taken / TREE, work)
        except OSError:
            state = None
        remove_path(taken)  # its state file, or a tree we do not trust
        return state

    def _refresh(
        self,
        snapshot: Snapshot,
        work: Path,
        old: TreeState | None,
        lease: WorkTreeLease,
        family: str | None,
    ) -> TreeState:
        """Bring ``work`` to exactly ``snapshot``; ``old`` says what was written there."""
        wanted = {entry_name(e.name): e for e in snapshot.files}
        dirs = {parent for name in wanted for parent in parents_of(name)}
        found: dict[str, os.stat_result] = {}
        dir_modes: dict[str, int] = {}
        work.mkdir(parents=True, exist_ok=True)
        pending = [""]
        while pending:
            prefix = pending.pop()
            with os.scandir(work / prefix if prefix else work) as entries:
                for item in entries:
                    name = prefix + item.name
                    item_st = item.stat(follow_symlinks=False)
                    if stat.S_ISDIR(item_st.st_mode) and name in dirs:
                        dir_modes[name] = item_st.st_mode
                        pending.append(name + "/")
                    elif stat.S_ISREG(item_st.st_mode) and name in wanted:
                        found[name] = item_st
                    else:  # added by a script, a link, or a file where a folder belongs
                        remove_path(item.path)
                        lease.removed += 1
        old_files = old.files if old is not None else {}
        old_dirs = old.dirs if old is not None else {}
        for name, mode in dir_modes.items():
            if name in old_dirs and old_dirs[name] != mode:
                os.chmod(work / name, stat.S_IMODE(old_dirs[name]))
        files: dict[str, list[Any]] = {}
        for name, entry in wanted.items():
            st = found.get(name)
            was = old_files.get(name)
            if (
                st is not None
                and old is not None
                and was == signature(entry.sha256, st)
                and was[4] < old.stamp
            ):
                files[name] = was
                continue
            if st is not None:
                os.unlink(work / name)
            target = restore_entry(self.blobs, entry, work)
            files[name] = signature(entry.sha256, os.lstat(target))
            lease.copied += 1
        modes = {d: old_dirs.get(d) or os.lstat(work / d).st_mode for d in dirs}
        size = sum(e.size for e in snapshot.files)
        return TreeState(snapshot.id, family, self._stamp_after(files), size, files, modes)

    def _stamp_after(self, files: dict[str, list[Any]]) -> int:
        """A stamp later than every ctime in ``files``: the file system's clock ticks (a few
        ms) before the script may start, so a write of the script changes the ctime of what
        it writes. Past ``RACY_WAIT_S`` (a file system with coarse times) the last files
        written stay "racy" and are copied again next time."""
        latest = max((sig[4] for sig in files.values()), default=0)
        stamp = self._stamp()
        deadline = time.monotonic() + RACY_WAIT_S
        while stamp <= latest and time.monotonic() < deadline:
            time.sleep(0.001)
            stamp = self._stamp()
        return stamp

    def _stamp(self) -> int:
        """The file system's clock now: the ctime of a file written after the refresh."""
        path = self.root / f".stamp-{unique_name()}"
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0")
            return os.fstat(fd).st_ctime_ns
        finally:
            os.close(fd)
            os.unlink(path)

    # keeping the cache bounded ---------------------------------------------------------------
    def _entries(self) -> list[tuple[str, dict[str, Any], float]]:
        """Published trees, most recently given back first: ``(name, header, time)``."""
        found = []
        try:
            names = os.listdir(self.root)
        except OSError:
            return []
        for name in names:
            if name.startswith("."):
                continue
            path = self.root / name / STATE
            header = TreeState.read_header(path)
            used = 0.0  # torn or being moved: first to go
            if header is not None:
                with contextlib.suppress(OSError):
                    used = path.stat().st_mtime
            found.append((name, header or {}, used))
        found.sort(key=lambda e: e[2], reverse=True)
        return found

    def evict(self) -> list[str]:
        """Delete the least recently used trees beyond the limits, torn entries, and what a
        killed lease or give-back left behind; returns the names deleted."""
        gone = []
        kept, total = 0, 0
        for name, header, _ in self._entries():
            size = header.get("size")
            if isinstance(size, int) and kept < self.max_trees and total + size <= self.max_bytes:
                kept, total = kept + 1, total + size
                continue
            if self._discard(name):
                gone.append(name)
        now = time.time()
        with contextlib.suppress(OSError):
            for name in os.listdir(self.root):
                path = self.root / name
                if name.startswith(_LEFTOVERS):
                    with contextlib.suppress(OSError):
                        if now - path.lstat().st_mtime > STALE_S:
                            remove_path(path)
                            gone.append(name)
        return gone

    def _discard(self, name: str) -> bool:
        """Delete one tree; renamed away first, so a run taking it gets all of it or nothing."""
        doomed = self.root / f".evicting-{unique_name()}"
        try:
            os.rename(self.root / name, doomed)
        except OSError:
            return False
        remove_path(doomed)
        return True


class WorkTreeLease:
    """A run's hold on its working folder; :meth:`give_back` returns the tree to the cache.

    ``reused_from``: the snapshot whose cached tree was refreshed (None: a fresh copy);
    ``copied``/``removed``: how many files the refresh wrote and deleted.
    """

    def __init__(
        self,
        trees: WorkTrees,
        snapshot: Snapshot,
        work: Path,
        keep: tuple[str, ...],
        family: str | None,
    ) -> None:
        self.trees, self.snapshot, self.work, self.keep, self.family = (
            trees,
            snapshot,
            work,
            keep,
            family,
        )
        self.state: TreeState | None = None  # None: not ours to cache
        self.reused_from: str | None = None
        self.copied = 0
        self.removed = 0

    def describe(self) -> str:
        """One line for the supervisor's log."""
        how = (
            f"reused the cached tree of snapshot {self.reused_from}"
            if self.reused_from is not None
            else "copied fresh"
        )
        return (
            f"working folder {self.work}: {how}; {self.copied} file(s) written, "
            f"{self.removed} removed, {len(self.snapshot.files)} in the snapshot"
        )

    def give_back(self) -> bool:
        """Return the tree to the cache, keeping ``./outputs`` and ``./logs`` in the run's
        working folder; call only once every process of the run has ended. True if cached."""
        state, self.state = self.state, None
        if state is None:
            return False
        root, work = self.trees.root, self.work
        try:
            if not stat.S_ISDIR(os.lstat(work).st_mode):
                return False
        except OSError:
            return False
        stage = root / f".incoming-{unique_name()}"
        tree = stage / TREE
        try:
            stage.mkdir()
            os.rename(work, tree)
        except OSError:
            remove_path(stage)
            return False
        try:
            os.mkdir(work)
            for sub in self.keep:
                if os.path.lexists(tree / sub):
                    os.rename(tree / sub, work / sub)
            state.write(stage / STATE)
        except OSError:
            self._put_back(tree, stage)
            return False
        try:
            os.rename(stage, root / self.snapshot.id)  # published whole, or not at all
        except OSError:  # another run of this snapshot gave its tree back first
            remove_path(stage)
            return False
        finally:
            self.trees.evict()
        return True

    def _put_back(self, tree: Path, stage: Path) -> None:
        """A give-back that failed half-way: the run's folder as it was, for finalizing."""
        with contextlib.suppress(OSError):
            for sub in self.keep:
                if os.path.lexists(self.work / sub) and not os.path.lexists(tree / sub):
                    os.rename(self.work / sub, tree / sub)
            if os.path.isdir(self.work):
                os.rmdir(self.work)
            os.rename(tree, self.work)
        remove_path(stage)

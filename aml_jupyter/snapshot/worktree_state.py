"""What a cached working tree holds (its ``state.json``), and the file helpers of
:mod:`.worktree`.

``state.json`` is two lines: a small header (format, snapshot id, source family, stamp, size),
read alone to choose and evict trees, then every file's signature and every folder's mode.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

_FORMAT = 1


def unique_name() -> str:
    """A name no other process (nor another call here) picks: pid and random."""
    return f"{os.getpid()}-{os.urandom(6).hex()}"


def signature(sha256: str, st: os.stat_result) -> list[Any]:
    """What a file must still be for the tree to be trusted: written from this blob, and the
    same inode with the same type, mode, size, mtime and ctime."""
    return [sha256, st.st_mode, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def remove_path(path: str | os.PathLike[str]) -> None:
    """Delete a file, a link (never what it points at) or a folder; missing is fine."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


def parents_of(name: str) -> Iterable[str]:
    """The folders above ``a/b/c``: ``a``, ``a/b``."""
    parts = name.split("/")
    return ("/".join(parts[:i]) for i in range(1, len(parts)))


class TreeState(NamedTuple):
    """What a refresh wrote into a tree (its ``state.json``). A named tuple, not a dataclass:
    the supervisor imports this as it starts, and ``dataclasses`` costs it ~10 ms."""

    snapshot: str
    family: str | None
    stamp: int  # ctime, on the tree's file system, of a file written after the refresh
    size: int
    files: dict[str, list[Any]]
    dirs: dict[str, int] = {}

    def write(self, path: Path) -> None:
        header = {
            "format": _FORMAT,
            "snapshot": self.snapshot,
            "family": self.family,
            "stamp": self.stamp,
            "size": self.size,
        }
        body = {"files": self.files, "dirs": self.dirs}
        with open(path, "w", encoding="utf-8") as f:
            f.write(json.dumps(header) + "\n" + json.dumps(body, separators=(",", ":")) + "\n")

    @staticmethod
    def read_header(path: Path) -> dict[str, Any] | None:
        """The first line (for eviction and choosing a tree), None when missing or torn."""
        try:
            with open(path, encoding="utf-8") as f:
                header = json.loads(f.readline())
        except (OSError, ValueError):
            return None
        ok = isinstance(header, dict) and header.get("format") == _FORMAT
        return header if ok and isinstance(header.get("size"), int) else None

    @staticmethod
    def read(path: Path, snapshot_id: str | None = None) -> TreeState | None:
        """The whole state; None when missing, torn, or (given ``snapshot_id``) another's."""
        try:
            with open(path, encoding="utf-8") as f:
                header, body = json.loads(f.readline()), json.loads(f.readline())
            state = TreeState(
                str(header["snapshot"]),
                header["family"],
                int(header["stamp"]),
                int(header["size"]),
                dict(body["files"]),
                dict(body["dirs"]),
            )
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if header.get("format") != _FORMAT or (snapshot_id and state.snapshot != snapshot_id):
            return None
        return state

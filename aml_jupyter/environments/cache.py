"""Where built environments live: one folder per spec hash under the workspace, built under a lock."""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import Any


def envs_root(ws_folder: Path) -> Path:
    return ws_folder / "envs"


def try_lock(lock: Any) -> bool:
    """Take ``lock`` (an open file) unless another process holds it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True

"""The log of a process that owns a run (a supervisor, a mirror): stdout and stderr into a file
among the run's system logs, in a way that never raises."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def log_to(path: Path) -> None:
    """Send this process's stdout and stderr to ``path`` (the run's supervisor or mirror log).

    Writing there never raises: on a full disk a traceback that cannot be written must not
    end the supervisor before it has recorded how the run ended.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    sys.stdout, sys.stderr = _Forgiving(sys.stdout), _Forgiving(sys.stderr)


class _Forgiving:
    """A text stream whose writes and flushes ignore OSError (ENOSPC above all)."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError:
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError:
            pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)

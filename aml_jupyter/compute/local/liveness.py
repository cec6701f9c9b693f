"""Is the process that owns a run still alive? Pid plus start time, so a reused pid lies not."""

from __future__ import annotations

import os

HOST = os.uname().nodename


def _stat_fields(pid: int) -> list[bytes]:
    """The fields of ``/proc/<pid>/stat`` after the command name ([] if gone or unknown)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return []


def process_start_time(pid: int) -> str:
    """An opaque token that changes when ``pid`` is reused ('' if unknown or gone)."""
    fields = _stat_fields(pid)
    return fields[19].decode() if fields else ""  # field 22, starttime


def is_alive(pid: int | None, started: str | None, host: str | None) -> bool | None:
    """True/False when we can tell (same host), None when the process is on another host."""
    if not pid or host != HOST:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if started and os.path.exists("/proc"):
        fields = _stat_fields(pid)
        if not fields or fields[19].decode() != started:
            return False  # gone, or the pid now belongs to another process
        if fields[0] == b"Z":
            return False  # a zombie has finished its work
    return True

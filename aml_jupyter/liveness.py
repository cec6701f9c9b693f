"""Is the process that owns a run still alive? Pid plus start time, so a reused pid lies not."""

from __future__ import annotations

import os

HOST = os.uname().nodename


def process_start_time(pid: int) -> str:
    """An opaque token that changes when ``pid`` is reused ('' if unknown or gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return ""
    # Field 22 (starttime) counted after the ')' that ends the command name.
    return stat.rsplit(b")", 1)[1].split()[19].decode()


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
        now = process_start_time(pid)
        if not now or now != started:
            return False
        try:
            with open(f"/proc/{pid}/stat", "rb") as f:
                if f.read().rsplit(b")", 1)[1].split()[0] == b"Z":
                    return False  # a zombie has finished its work
        except OSError:
            return False
    return True

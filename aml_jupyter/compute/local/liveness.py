"""Is the process that owns a run still alive? Pid plus start time, so a reused pid lies not.

A process is known by its pid and a start-time token (:func:`process_start_time`); a live
process with that pid but another start time is a stranger that got the pid later. Read with
psutil, imported when first needed: this module loads in a Python without it (a scoring
service's own environment) as long as nothing is asked.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psutil

HOST = os.uname().nodename
#: Clock ticks per second: the start-time token counts them (as /proc's ``starttime`` does).
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: The boot time as last read (a check reads it again before it calls a process a stranger).
_boot: list[float] = []


def start_token(proc: psutil.Process, boot: float | None = None) -> str:
    """When ``proc`` started, in clock ticks after boot, as text.

    Ticks after boot, not the wall-clock start: setting the system clock (NTP) moves the
    latter, and a token that changed would make a live run look dead. On Linux it is the
    ``starttime`` field of ``/proc/PID/stat``, so tokens recorded before stay valid.
    ``boot``: the boot time read earlier (else it is read now, as psutil does).
    """
    import psutil

    boot = psutil.boot_time() if boot is None else boot
    return str(round((proc.create_time() - boot) * _TICKS))


def process_start_time(pid: int) -> str:
    """An opaque token that changes when ``pid`` is reused ('' if unknown or gone)."""
    import psutil

    try:
        return start_token(psutil.Process(pid))
    except (psutil.Error, ValueError):
        return ""


def is_alive(pid: int | None, started: str | None, host: str | None) -> bool | None:
    """True/False when we can tell (same host), None when the process is on another host.

    A zombie (ended, not yet reaped) is dead; so is a live process whose start time is not
    ``started`` (the pid was reused). Without ``started`` the pid alone decides.
    """
    if not pid or host != HOST:
        return None
    import psutil

    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False  # a zombie has finished its work
        token = str(started) if started else ""
        if not _boot:
            _boot.append(psutil.boot_time())
        if token and start_token(proc, _boot[0]) != token:
            _boot[0] = psutil.boot_time()  # not ours, or the clock was set: read again
            if process_start_time(pid) != token:
                return False  # the pid now belongs to another process
    except psutil.NoSuchProcess:  # ZombieProcess is one: ended, not reaped
        return False
    except psutil.AccessDenied:
        pass  # exists, owned by someone else, cannot be read
    except ValueError:  # a pid out of range
        return False
    return True

"""How long ago this process started, to 10 ms, from ``/proc`` (Linux; None elsewhere).

The driver and the rank actors say how long they took from their process's start to their
first useful step (in the run's system log). ``psutil``'s ``create_time()`` is not precise
enough for that: it adds a boot time rounded to the second, so its figure was off by up to
a second; and importing psutil alone cost the driver ~50 ms.
"""

from __future__ import annotations

import os


def process_age_s() -> float | None:
    """Seconds since this process started, or None where ``/proc`` cannot tell."""
    try:
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        with open("/proc/self/stat") as f:
            stat = f.read()
        # Field 22 (starttime, clock ticks after boot), counted past the ")" that ends the
        # command name, which may itself hold spaces.
        start_ticks = int(stat[stat.rindex(")") + 2 :].split()[19])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None

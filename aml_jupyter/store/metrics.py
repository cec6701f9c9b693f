"""Metrics as append-only files: one file per (run, process), one line per logged value.

Why files: a ``write(2)`` on an ``O_APPEND`` descriptor costs a couple of microseconds, needs no
lock between processes (each process has its own file) and is in the kernel's page cache the
moment it returns, so a SIGKILLed script loses nothing it logged. The store reads the files
back (tolerating a torn last line) and, when a run ends, keeps a per-metric summary in SQLite
for fast listing.

A line is a JSON array ``[kind, name, value, step, time in µs since the epoch]``; kinds:
``s`` scalar, ``l`` list, ``r`` table row, ``t`` table, ``i`` image (value = run file name).
"""

from __future__ import annotations

import json
import os
from operator import itemgetter
from pathlib import Path
from typing import Any

SCALAR, LIST, ROW, TABLE, IMAGE = "s", "l", "r", "t", "i"
KIND_NAMES = {SCALAR: "scalar", LIST: "list", ROW: "row", TABLE: "table", IMAGE: "image"}


#: A logged value as read back: ``[kind, name, value, step, time in µs]``. Plain lists, not
#: objects: a run may have millions and reading them must stay a single C-level JSON parse.
Point = list[Any]


def _parse_lines(data: bytes) -> list[list[Any]]:
    """Decode a metrics file: one C-level JSON parse for the whole file when it is intact."""
    end = data.rfind(b"\n") + 1  # a line torn by a kill mid-write has no newline yet
    body = data[:end]
    if not body:
        return []
    try:
        return json.loads(b"[" + body[:-1].replace(b"\n", b",") + b"]")
    except ValueError:
        # A torn line in the middle (its pid was reused and appended after it): go line by line.
        rows = []
        for raw in body.splitlines():
            try:
                rows.append(json.loads(raw))
            except ValueError:
                continue
        return rows


def read_points(folder: Path) -> list[Point]:
    """Every point logged for a run, by all its processes, oldest first.

    Whatever was written before a kill is kept; a torn last line is skipped.
    """
    points: list[Point] = []
    if folder.is_dir():
        for path in folder.glob("*.jsonl"):
            points.extend(_parse_lines(path.read_bytes()))
        points.sort(key=itemgetter(4))
    return points


def read_new_points(folder: Path, cursor: str | None = None) -> tuple[list[Point], str]:
    """Points appended since ``cursor`` (None: all), and the cursor to pass next time.

    The cursor is an opaque string (byte offsets per metrics file), so a poller, a widget or
    an HTTP client reads only what is new, however long the run has been logging.
    """
    offsets: dict[str, int] = {}
    if cursor:
        for item in cursor.split(","):
            name, _, offset = item.rpartition(":")
            if name and offset.isdigit():
                offsets[name] = int(offset)
    points: list[Point] = []
    if folder.is_dir():
        for path in folder.glob("*.jsonl"):
            start = offsets.get(path.name, 0)
            if path.stat().st_size <= start:
                continue
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read()
            complete = data.rfind(b"\n") + 1  # a line still being written waits for next time
            points.extend(_parse_lines(data[:complete]))
            offsets[path.name] = start + complete
        points.sort(key=itemgetter(4))
    return points, ",".join(f"{name}:{offset}" for name, offset in sorted(offsets.items()))


def aggregate(points: list[Point], name: str | None = None) -> dict[str, Any]:
    """Fold points into v1's ``get_metrics`` shape.

    A scalar logged once is the value, more than once a list; ``log_row`` rows become a dict
    of columns; a table or list is its last logged value; an image is its run file name.
    """
    out: dict[str, Any] = {}
    scalars: dict[str, list[Any]] = {}
    for kind, key, value, _, _ in points:
        if name is not None and key != name:
            continue
        if kind == SCALAR:
            scalars.setdefault(key, []).append(value)
        elif kind == ROW:
            table = out.setdefault(key, {})
            for column, cell in value.items():
                table.setdefault(column, []).append(cell)
        elif kind == IMAGE:
            out[key] = f"aml://artifacts/{value}"
        else:
            out[key] = value
    for key, values in scalars.items():
        out[key] = values[0] if len(values) == 1 else values
    return out


def history(points: list[Point], name: str) -> list[dict[str, Any]]:
    """Every value of one scalar metric with its step and time (seconds), oldest first."""
    return [
        {"step": step, "value": value, "time": at / 1e6}
        for kind, key, value, step, at in points
        if key == name and kind == SCALAR
    ]


def latest_values(folder: Path, tail_bytes: int = 65536) -> dict[str, Any]:
    """Last value of each scalar metric of a live run, read from the files' tails only.

    Bounded work however long the run has logged (listings call it for every active run in
    a page); a metric last logged before the tail is left out until the run's summary is saved.
    """
    latest: dict[str, tuple[float, Any]] = {}
    if folder.is_dir():
        for path in folder.glob("*.jsonl"):
            with open(path, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                start = max(0, size - tail_bytes)
                f.seek(start)
                data = f.read()
            if start:
                data = data[data.find(b"\n") + 1 :]  # drop the partial first line
            for kind, name, value, _, time_us in _parse_lines(data):
                if kind == SCALAR and time_us >= latest.get(name, (-1.0, None))[0]:
                    latest[name] = (time_us, value)
    return {name: value for name, (_, value) in latest.items()}


def summarize(points: list[Point]) -> dict[str, tuple[Any, int]]:
    """Last value and count of every scalar metric: what listings show as columns."""
    summary: dict[str, tuple[Any, int]] = {}
    for kind, name, value, _, _ in points:
        if kind == SCALAR:
            summary[name] = (value, summary.get(name, (None, 0))[1] + 1)
    return summary

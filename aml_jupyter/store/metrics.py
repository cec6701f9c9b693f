"""Metrics as append-only files: one file per (run, process), one line per logged value.

Why files: a ``write(2)`` on an ``O_APPEND`` descriptor costs a couple of microseconds, needs no
lock between processes (each process has its own file) and is in the kernel's page cache the
moment it returns, so a SIGKILLed script loses nothing it logged. The store reads the files
back (tolerating a torn last line) and, when a run ends, indexes them into columns
(:mod:`aml_jupyter.store.metric_index`) and keeps a per-metric summary in SQLite.

A line is a JSON array ``[kind, name, value, step, time in µs since the epoch]``; kinds:
``s`` scalar, ``l`` list, ``r`` table row, ``t`` table, ``i`` image (value = run file name).

Readers never raise on what a file holds: a line that is not such an array (torn, garbled,
nested too deep for the parser, a wrong type in a field) is skipped and counted.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from functools import lru_cache
from operator import itemgetter
from pathlib import Path
from typing import Any

from .limits import INT64_MAX, INT64_MIN

SCALAR, LIST, ROW, TABLE, IMAGE = "s", "l", "r", "t", "i"
KIND_NAMES = {SCALAR: "scalar", LIST: "list", ROW: "row", TABLE: "table", IMAGE: "image"}

#: A logged value as read back: ``[kind, name, value, step, time in µs]``. Plain lists, not
#: objects: a run may have millions and reading them must stay a C-level JSON parse.
Point = list[Any]

#: Bytes parsed at a time: the parsed objects take ~6x the bytes, so this bounds a reader's memory.
CHUNK_BYTES = 2 << 20
#: A line with no newline within this many bytes is skipped rather than held whole in memory.
MAX_LINE_BYTES = 64 << 20


@lru_cache(maxsize=4096)
def _encodable(name: str) -> bool:
    """False for a name with a lone surrogate (``"\\ud800"`` in the JSON): SQLite refuses it."""
    try:
        name.encode()
    except UnicodeEncodeError:
        return False
    return True


def valid_rows(values: list[Any]) -> tuple[list[Point], int]:
    """The well-formed points among decoded lines, and how many lines were not."""
    rows: list[Point] = []
    append = rows.append
    for row in values:
        if type(row) is not list or len(row) != 5:
            continue
        kind, name, value, step, at = row
        if (
            type(kind) is not str
            or kind not in KIND_NAMES
            or type(name) is not str
            or not (name.isascii() or _encodable(name))
            or (step is not None and type(step) is not int)
            or type(at) is not int
            or not INT64_MIN <= at <= INT64_MAX
            or (kind == ROW and type(value) is not dict)
            or (kind == IMAGE and type(value) is not str)
        ):
            continue
        append(row)
    return rows, len(values) - len(rows)


def _decode(data: bytes) -> list[Any]:
    """The JSON value of each line of ``data`` (whole lines), None for a line that is not JSON."""
    lines = data.count(b"\n")
    if not lines:
        return []
    try:
        # Fast path: one C-level parse of the whole chunk, taken when it gives one value a line.
        # (Lines crafted to be JSON only when joined, "[1" then "2]", can pass as one: never
        # the writer's, and whatever they give is still checked by valid_rows.)
        text = data.decode()
        joined, text = "[" + text[:-1].replace("\n", ",") + "]", ""
        values = json.loads(joined)
        if len(values) == lines:
            return values
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        pass
    joined = text = ""
    out: list[Any] = []
    for raw in data.split(b"\n")[:lines]:
        try:
            out.append(json.loads(raw.decode()))
        except (ValueError, RecursionError):
            out.append(None)
    return out


def _parse_lines(data: bytes) -> list[Point]:
    """Well-formed points in ``data``; a last line without its newline is left out."""
    return valid_rows(_decode(data[: data.rfind(b"\n") + 1]))[0]


def iter_decoded(path: Path, start: int = 0) -> Iterator[tuple[list[Any], int]]:
    """The decoded lines of ``path`` from byte ``start`` (not yet checked: see
    :func:`valid_rows`), a chunk of whole lines at a time, each with the offset after it.

    A last line without its newline (still being written, or torn by a kill) is left for a
    later read; a line too long to hold is given as None (malformed).
    """
    with open(path, "rb") as f:
        f.seek(start)
        offset = start  # of the first byte not yet given
        pending: list[bytes] = []  # a line longer than a block, so far
        held = 0
        dropping = False  # inside a line over MAX_LINE_BYTES: skip to its newline
        while block := f.read(CHUNK_BYTES):
            if dropping:
                newline = block.find(b"\n")
                if newline < 0:
                    offset += len(block)
                    continue
                dropping, block = False, block[newline + 1 :]
                offset += newline + 1
                yield [None], offset
            cut = block.rfind(b"\n") + 1
            if not cut:
                pending.append(block)
                held += len(block)
                if held > MAX_LINE_BYTES:
                    dropping, offset, pending, held = True, offset + held, [], 0
                continue
            rest = block[cut:]
            data = b"".join((*pending, block[:cut])) if pending else block[:cut]
            del block  # memory: only one copy of the chunk while it is parsed
            pending, held = ([rest], len(rest)) if rest else ([], 0)
            offset += len(data)
            yield _decode(data), offset


def iter_chunks(path: Path, start: int = 0) -> Iterator[tuple[list[Point], int, int]]:
    """Like :func:`iter_decoded`: ``(points, lines skipped, offset after them)`` per chunk."""
    for values, offset in iter_decoded(path, start):
        rows, skipped = valid_rows(values)
        del values
        yield rows, skipped, offset
        del rows


def metric_files(folder: Path) -> list[Path]:
    """A run's metric files in name order: the order that breaks ties in time between them."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.glob("*.jsonl") if p.is_file()), key=lambda p: p.name)


def read_points(folder: Path) -> list[Point]:
    """Every point logged for a run, by all its processes, oldest first.

    Whatever was written before a kill is kept; a torn or malformed line is skipped.
    """
    points: list[Point] = []
    for path in metric_files(folder):
        for rows, _, _ in iter_chunks(path):
            points.extend(rows)
            del rows  # memory: not alive while the next chunk is parsed
    points.sort(key=itemgetter(4))
    return points


def parse_cursor(cursor: str | None) -> dict[str, int]:
    """``{file name: byte offset}`` from a cursor string; anything unreadable counts as 0."""
    offsets: dict[str, int] = {}
    for item in (cursor or "").split(","):
        name, _, offset = item.rpartition(":")
        if name and offset.isdigit():
            try:
                offsets[name] = int(offset)
            except ValueError:  # digits int() refuses: superscripts, over 4300 of them
                continue
    return offsets


def read_new_points(folder: Path, cursor: str | None = None) -> tuple[list[Point], str]:
    """Points appended since ``cursor`` (None: all), and the cursor to pass next time.

    The cursor is an opaque string (byte offsets per metrics file), so a poller, a widget or
    an HTTP client reads only what is new, however long the run has been logging.
    """
    offsets = parse_cursor(cursor)
    points: list[Point] = []
    for path in metric_files(folder):
        start = offsets.get(path.name, 0)
        if path.stat().st_size <= start:
            continue
        for rows, _, end in iter_chunks(path, start):  # a line still being written waits
            points.extend(rows)
            offsets[path.name] = end
    points.sort(key=itemgetter(4))
    return points, ",".join(f"{name}:{offset}" for name, offset in sorted(offsets.items()))


def fold_other(out: dict[str, Any], kind: str, key: str, value: Any) -> None:
    """Fold one non-scalar point into ``out`` (see :func:`aggregate`); never raises."""
    if kind == ROW:
        table = out.get(key)
        if type(table) is not dict:  # a list or image logged under the name first: rows restart
            table = out[key] = {}
        for column, cell in value.items():
            cells = table.get(column)
            if type(cells) is not list:
                cells = table[column] = []
            cells.append(cell)
    elif kind == IMAGE:
        out[key] = f"aml://artifacts/{value}"
    else:
        out[key] = value


def aggregate(points: list[Point], name: str | None = None) -> dict[str, Any]:
    """Fold points (oldest first) into v1's ``get_metrics`` shape.

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
        else:
            fold_other(out, kind, key, value)
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
    latest: dict[str, tuple[int, Any]] = {}
    for path in metric_files(folder):
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            start = max(0, size - tail_bytes)
            f.seek(start)
            data = f.read()
        if start:
            data = data[data.find(b"\n") + 1 :]  # drop the partial first line
        for kind, name, value, _, time_us in _parse_lines(data):
            if kind == SCALAR and time_us >= latest.get(name, (INT64_MIN, None))[0]:
                latest[name] = (time_us, value)
    return {name: value for name, (_, value) in latest.items()}


def summarize(points: list[Point]) -> dict[str, tuple[Any, int]]:
    """Last value and count of every scalar metric: what listings show as columns."""
    summary: dict[str, tuple[Any, int]] = {}
    for kind, name, value, _, _ in points:
        if kind == SCALAR:
            summary[name] = (value, summary.get(name, (None, 0))[1] + 1)
    return summary


def summarize_files(folder: Path) -> dict[str, tuple[Any, int]]:
    """``summarize(read_points(folder))`` in bounded memory: the files streamed, only the
    summary kept (a fallback for a build of the index that failed, e.g. on a full disk)."""
    latest: dict[str, list[Any]] = {}  # name: [time, value, count]
    for path in metric_files(folder):
        for rows, _, _ in iter_chunks(path):
            for kind, name, value, _, at in rows:
                if kind == SCALAR:
                    entry = latest.get(name)
                    if entry is None:
                        latest[name] = [at, value, 1]
                        continue
                    entry[2] += 1
                    if at >= entry[0]:  # ties: the later file or line, as a stable sort
                        entry[0], entry[1] = at, value
    return {name: (value, count) for name, (_, value, count) in latest.items()}

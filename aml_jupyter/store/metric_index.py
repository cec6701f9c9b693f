"""A columnar index of a run's metrics, written when the run ends, read by ``get_metrics``.

Why: parsing millions of JSON lines into Python lists costs seconds and a gigabyte; a column
of float64 read from disk and turned into a list with ``tolist()`` costs a fraction of that.
:func:`build_index` (:mod:`.metric_index_build`) streams the metric files a few MB at a time
and spills every chunk to ``<run folder>/metric_index/`` (built in a temp folder, renamed into
place), so its memory is bounded whatever the run's size:

* ``times``, ``values``, ``steps``: little-endian int64/float64 cells, each metric's column
  points in blocks (``steps`` only for blocks where a step was given);
* ``side.jsonl``: everything that is not a number fitting its metric's column (see
  :mod:`aml_jupyter.store.metric_series`), one JSON line each;
* ``manifest.json``: the byte offset covered in each metric file, the lines skipped, and each
  metric's blocks and side ranges.

Readers (:func:`read_metrics`, :func:`read_history`) take the columns plus whatever the files
gained past the covered offsets; without a usable index they parse the files. Either way the
result is that of :func:`~aml_jupyter.store.metrics.aggregate` /
:func:`~aml_jupyter.store.metrics.history` over :func:`~aml_jupyter.store.metrics.read_points`.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from array import array
from pathlib import Path
from typing import Any

# The format is defined where it is written; its names are importable from here too.
from .metric_index_build import _COLUMNS, FLUSH_POINTS, INDEX_DIR, VERSION, build_index, index_dir
from .metric_series import NO_STEP, TOMBSTONE, Collector, Part, merge, part_of
from .metrics import fold_other, iter_decoded, metric_files, valid_rows

__all__ = [
    "FLUSH_POINTS",
    "INDEX_DIR",
    "VERSION",
    "build_index",
    "index_dir",
    "read_history",
    "read_metrics",
    "skipped_lines",
]


class _BadIndex(Exception):
    """The index on disk is not one this version wrote whole: read the files instead."""


#: What a damaged or half-replaced index can raise while read: the files are read instead.
_INDEX_TROUBLE = (_BadIndex, OSError, EOFError, ValueError, RecursionError)
_VTYPES = {"d": float, "q": int, None: None}


def _ints(value: Any, n: int) -> bool:
    return type(value) is list and len(value) == n and all(type(x) is int for x in value)


def _open_index(root: Path) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The manifest and open column files of the index in ``root``, when whole and of this
    version; else None. Files are opened before they are checked against the manifest, so a
    build replacing the index meanwhile shows as a mismatch, not as mixed data."""
    handles: dict[str, Any] = {}
    try:
        m = json.loads((root / "manifest.json").read_bytes())
        handles = {n: open(root / n, "rb") for n in (*_COLUMNS, "side.jsonl")}  # noqa: SIM115
        files, sizes = m["files"], m["sizes"]
        ok = (
            m["version"] == VERSION
            and type(m["skipped"]) is int
            and all(type(f) is list and len(f) == 2 and type(f[0]) is str for f in files)
            and all(type(f[1]) is int and f[1] >= 0 for f in files)
            and all(os.fstat(f.fileno()).st_size == sizes[n] for n, f in handles.items())
        )
        for s in m["series"]:
            ok = ok and type(s["name"]) is str and s["type"] in _VTYPES and type(s["n"]) is int
            ok = ok and type(s["ordered"]) is bool
            ok = ok and all(_ints(b, 4) and 0 <= b[0] < len(files) for b in s["blocks"])
            ok = ok and all(_ints(r, 2) for r in s["side"])
        if ok:
            return m, handles
    except (OSError, ValueError, RecursionError, KeyError, TypeError):
        pass
    for f in handles.values():
        f.close()
    return None


class _View:
    """A run's metrics: its index (when usable) and the lines its files gained since."""

    def __init__(self, folder: Path, name: str | None, use_index: bool = True) -> None:
        paths = metric_files(folder)
        sizes = {p.name: p.stat().st_size for p in paths}
        self.rank = {n: i for i, n in enumerate(sorted(sizes))}
        opened = _open_index(index_dir(folder)) if use_index else None
        m, self.handles = opened or (None, {})
        if m and not all(sizes.get(n, -1) >= end for n, end in m["files"]):
            self.close()  # a file shrank or went: the index is not of these files
            m, self.handles = None, {}
        self.manifest = m
        self.series = {s["name"]: s for s in m["series"]} if m else {}
        self.index_ranks = [self.rank[n] for n, _ in m["files"]] if m else []
        covered = {n: end for n, end in m["files"]} if m else {}
        # Only the metric asked for is kept (the lines of others are not checked or counted).
        self.tail = Collector({n: _VTYPES[s["type"]] for n, s in self.series.items()}, name)
        for path in paths:
            start, rank = covered.get(path.name, 0), self.rank[path.name]
            if sizes[path.name] > start:
                with contextlib.suppress(FileNotFoundError):
                    for values, _ in iter_decoded(path, start):
                        self.tail.add(values, rank)
                        del values  # memory: not alive while the next chunk is parsed
                self.tail.mark_file(rank)
        self.skipped = (m["skipped"] if m else 0) + self.tail.skipped

    def close(self) -> None:
        for f in self.handles.values():
            f.close()

    def _cells(self, column: str, spans: list[tuple[int, int]], typecode: str) -> array[Any]:
        """Cells of a column file, span after span (``array.fromfile``: no numpy needed)."""
        out, f = array(typecode), self.handles[column]
        for start, count in spans:
            f.seek(start * 8)
            out.fromfile(f, count)  # EOFError when the file is short
        if sys.byteorder == "big":
            out.byteswap()
        return out

    def _side(self, ranges: list[list[int]], n: int) -> list[list[Any]]:
        """A metric's side points, checked as a line of a metric file is (and their order)."""
        f, points = self.handles["side.jsonl"], []  # type: tuple[Any, list[Any]]
        for start, end in ranges:
            f.seek(start)
            text = f.read(max(end - start, 0)).decode()
            points += json.loads("[" + text[:-1].replace("\n", ",") + "]") if text else []
        seq = -1
        for p in points:
            ok = type(p) is list and len(p) == 6 and _ints(p[:2], 2) and seq < p[0] < n
            if not (ok and 0 <= p[1] < len(self.index_ranks)):
                raise _BadIndex("side point")
            if p[2] != TOMBSTONE and valid_rows([[p[2], "", *p[3:]]])[1]:
                raise _BadIndex("side point")
            seq, p[1] = p[0], self.index_ranks[p[1]]
        return points

    def parts(self, name: str) -> list[Part]:
        """The parts of metric ``name``: from the index, then from the lines read."""
        parts = []
        meta = self.series.get(name)
        if meta is not None:
            blocks = meta["blocks"]
            spans = [(b[2], b[1]) for b in blocks]
            t = self._cells("times", spans, "q")
            v = self._cells("values", spans, meta["type"] or "q")
            steps = None
            if any(b[3] >= 0 for b in blocks):
                steps = array("q")
                for b in blocks:
                    if b[3] >= 0:
                        steps += self._cells("steps", [(b[3], b[1])], "q")
                    else:
                        steps += array("q", [NO_STEP]) * b[1]
            side = self._side(meta["side"], meta["n"])
            if len(t) + len(side) != meta["n"]:
                raise _BadIndex(name)
            runs = [[self.index_ranks[b[0]], b[1]] for b in blocks]
            parts.append(Part(t, v, steps, runs, side, meta["n"], meta["ordered"]))
        if name in self.tail.series:
            parts.append(part_of(self.tail.series[name]))
        return parts

    def names(self) -> list[str]:
        """Every metric, in the order it first appeared (the index's, then new ones)."""
        return [*self.series, *(n for n in self.tail.series if n not in self.series)]


def _read(folder: Path, name: str | None, read: Any) -> Any:
    """``read(view)`` on the index and new lines; on the files alone if the index is damaged."""
    for use_index in (True, False):
        try:
            view = _View(folder, name, use_index)
        except _INDEX_TROUBLE:
            if not use_index:
                raise
            continue
        try:
            return read(view)
        except _INDEX_TROUBLE:
            if not use_index or not view.manifest:
                raise
        finally:
            view.close()
    raise AssertionError("unreachable")


def read_metrics(folder: Path, name: str | None = None) -> dict[str, Any]:
    """``aggregate(read_points(folder), name)``, from the index where there is one."""

    def fold(view: _View) -> dict[str, Any]:
        entries = []
        for order, key in enumerate([name] if name is not None else view.names()):
            m = merge(view.parts(key))
            folded: dict[str, Any] = {}
            for kind, value in m.others:
                fold_other(folded, kind, key, value)
            if m.values:  # scalars win over other kinds logged under the same name
                folded[key] = m.values[0] if len(m.values) == 1 else m.values
            if folded:
                # v1's dict order: names of tables/rows/lists first, then scalar-only ones
                first = (0, m.first_other) if m.others else (1, m.first_scalar)
                entries.append((first, order, key, folded[key]))
        return {key: value for _, _, key, value in sorted(entries, key=lambda e: e[:2])}

    return _read(folder, name, fold)


def read_history(folder: Path, name: str) -> list[dict[str, Any]]:
    """``history(read_points(folder), name)``, from the index where there is one."""

    def rows(view: _View) -> list[dict[str, Any]]:
        m = merge(view.parts(name), with_steps=True)
        if not m.values:
            return []
        return [
            {"step": step, "value": value, "time": at}
            for step, value, at in zip(m.steps, m.values, m.seconds, strict=True)
        ]

    return _read(folder, name, rows)


def skipped_lines(folder: Path) -> int:
    """How many lines of the metric files were malformed and skipped (a torn last line is not
    counted: it may still be being written)."""
    return _read(folder, None, lambda view: view.skipped)

"""Building a run's metric index when the run ends (the format: :mod:`.metric_index`).

:func:`build_index` streams the metric files a few MB at a time, spilling every chunk's
columns to disk, so its memory is bounded whatever the run's size; it builds in a temp folder
renamed into place, so a reader sees the old index or the new one whole, never half of one,
and a build killed halfway leaves a temp folder the next build removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import sys
from array import array
from pathlib import Path
from typing import Any

from .metric_series import TOMBSTONE, Collector, is_ordered
from .metrics import SCALAR, iter_decoded, metric_files

INDEX_DIR = "metric_index"
VERSION = 1
#: Points held before a spill to disk (~6 MB of columns): with a parsed chunk, ~60 MB at most.
FLUSH_POINTS = 1 << 18
_COLUMNS = ("times", "values", "steps")


class _Build:
    """An index being written into ``root``: column files appended to, chunk by chunk."""

    def __init__(self, root: Path) -> None:
        # Open for the whole build (closed by close()): every flush appends to them.
        self.files = {n: open(root / n, "wb") for n in (*_COLUMNS, "side.jsonl")}  # noqa: SIM115
        self.cells = dict.fromkeys(_COLUMNS, 0)
        self.collector = Collector()
        self.meta: dict[str, dict[str, Any]] = {}
        self.summary: dict[str, tuple[Any, int]] = {}
        self.last: dict[str, int] = {}  # time of each metric's summary value
        self.last_time: dict[str, int] = {}  # of each metric's last column point
        self.skipped = 0

    def _cells(self, column: str, cells: array[Any]) -> int:
        """Append to a column file; the index of the first cell written."""
        if sys.byteorder == "big":
            cells = array(cells.typecode, cells)
            cells.byteswap()
        start = self.cells[column]
        cells.tofile(self.files[column])
        self.cells[column] += len(cells)
        return start

    def flush(self, rank: int) -> None:
        """Write out every metric's buffered points (all from file ``rank``)."""
        for s in self.collector.series.values():
            if not s.t and not s.side:
                continue
            base = s.base
            meta = self.meta.setdefault(
                s.name, {"name": s.name, "blocks": [], "side": [], "ordered": True}
            )
            t, v, steps, side = s.take()
            meta.update(type=None if s.vtype is None else s.v.typecode, n=s.base)
            best: tuple[int, int, Any] | None = None  # (time, seq, value) of the last scalar
            if t:
                start = self._cells("times", t)
                self._cells("values", v)
                step_at = -1 if steps is None else self._cells("steps", steps)
                blocks = meta["blocks"]
                meta["ordered"] = meta["ordered"] and is_ordered(t)
                if blocks and meta["ordered"]:
                    meta["ordered"] = self.last_time[s.name] <= t[0]
                self.last_time[s.name] = t[-1]
                blocks.append([rank, len(t), start, step_at])
                latest = max(t)
                index = len(t) - 1 - t[::-1].index(latest)
                seq = base + index
                for side_seq, *_ in side:  # the column point's seq skips the side points'
                    if side_seq > seq:
                        break
                    seq += 1
                best = (latest, seq, v[index])
            count = len(t) + (self._side(meta, side) if side else 0)
            for seq, _, kind, value, _, at in side:
                if kind == SCALAR and (best is None or (at, seq) >= best[:2]):
                    best = (at, seq, value)
            last_value, last_count = self.summary.get(s.name, (None, 0))
            if best is not None and best[0] >= self.last.get(s.name, best[0]):
                self.last[s.name], last_value = best[0], best[2]  # ties: the later line wins
            if count:
                self.summary[s.name] = (last_value, last_count + count)
        self.collector.buffered = self.collector.side_points = 0

    def _side(self, meta: dict[str, Any], side: list[list[Any]]) -> int:
        """Write side points; returns how many are scalars (they count in the summary)."""
        f = self.files["side.jsonl"]
        start = f.tell()
        scalars = 0
        for point in side:
            try:
                line = json.dumps(point)
            except (ValueError, RecursionError):  # nested deeper than this stack can encode
                self.skipped += 1
                point[2:5] = [TOMBSTONE, None, None]  # keeps its seq, so the others' order
                line = json.dumps(point)
            f.write(line.encode() + b"\n")
            scalars += point[2] == SCALAR
        meta["side"].append([start, f.tell()])
        return scalars

    def read(self, folder: Path) -> list[list[Any]]:
        """Stream every metric file into the index; ``[[file name, offset covered], ...]``."""
        covered = []
        for rank, path in enumerate(metric_files(folder)):
            end = 0
            with contextlib.suppress(FileNotFoundError):  # removed since listed
                for values, offset in iter_decoded(path):
                    self.collector.add(values, rank)
                    end = offset
                    del values  # memory: not alive while the next chunk is parsed
                    # Side points may be big (tables): written out after each chunk, so
                    # what is held stays about one chunk's worth.
                    if self.collector.buffered >= FLUSH_POINTS or self.collector.side_points:
                        self.flush(rank)
            self.flush(rank)
            covered.append([path.name, end])
        return covered

    def close(self) -> None:
        """Close the column files."""
        for f in self.files.values():
            f.close()

    def finish(self, root: Path, files: list[list[Any]]) -> None:
        """Write the manifest: what makes the index complete."""
        sizes = {n: (root / n).stat().st_size for n in self.files}
        manifest = {
            "version": VERSION,
            "files": files,
            "skipped": self.skipped + self.collector.skipped,
            "sizes": sizes,
            "series": list(self.meta.values()),
        }
        (root / "manifest.json").write_text(json.dumps(manifest))


def index_dir(folder: Path) -> Path:
    """Where the index of the metric files in ``folder`` lives (beside it)."""
    return folder.parent / INDEX_DIR


def build_index(folder: Path) -> dict[str, tuple[Any, int]]:
    """Index the metric files in ``folder`` from scratch; ``{name: (last value, count)}``.

    The summary is :func:`~aml_jupyter.store.metrics.summarize`'s. Bad lines are skipped and
    counted, never raised; an ``OSError`` (a full disk) is, and leaves no partial index.
    """
    target = index_dir(folder)
    _remove_stale(folder.parent)
    if not folder.is_dir():  # nothing was logged: no index (nor an old one) to read
        shutil.rmtree(target, ignore_errors=True)
        return {}
    tmp = folder.parent / f".{INDEX_DIR}.{os.getpid()}.{secrets.token_hex(4)}"
    tmp.mkdir(parents=True)
    try:
        build = _Build(tmp)
        try:
            covered = build.read(folder)
        finally:
            build.close()
        build.finish(tmp, covered)
        _install(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return build.summary


def _install(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``, replacing an older index (readers of it fall back)."""
    for _ in range(5):
        try:
            os.rename(tmp, target)
            return
        except OSError:
            if not target.is_dir():
                raise
        old = target.with_name(f".{INDEX_DIR}.old.{secrets.token_hex(4)}")
        with contextlib.suppress(FileNotFoundError):  # another build moved it first
            os.rename(target, old)
        shutil.rmtree(old, ignore_errors=True)
    os.rename(tmp, target)


def _remove_stale(run_dir: Path) -> None:
    """Delete temp folders of builds that were killed (their process is gone)."""
    for path in run_dir.glob(f".{INDEX_DIR}.*"):
        pid = path.name.split(".")[2]
        if pid.isdigit():
            try:
                os.kill(int(pid), 0)
                continue
            except ProcessLookupError:
                pass
            except PermissionError:  # alive, someone else's
                continue
        shutil.rmtree(path, ignore_errors=True)

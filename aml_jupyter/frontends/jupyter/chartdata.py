"""Metric points as a chart wants them: columns per scalar, long series downsampled.

A chart a few hundred pixels wide cannot show 100,000 points, and sending them costs seconds.
:func:`keep_indices` splits a series into buckets along its order and keeps, of each, the
point with the smallest and the one with the largest value (so every peak and dip shows, and
the series' min and max are exact), plus the first and the last point as logged.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from ...store.metric_columns import NUMBERS as _NUMBERS
from ...store.metric_columns import MetricColumns
from ...store.metrics import KIND_NAMES, SCALAR

#: Points a chart gets when the client does not say (about two a pixel of a wide chart).
DEFAULT_POINTS = 2000
#: The most points one series may be asked for at a time.
MAX_POINTS = 20000
#: The fewest: the first, the last and one bucket between.
MIN_POINTS = 4
#: Steps are 64-bit integers.
_STEP_LIMIT = (1 << 63) - 1


def _is_nan(value: Any) -> bool:
    return value != value


def keep_indices(values: Sequence[Any], points: int) -> list[int] | None:
    """Indices (ascending) of at most ``points`` values that draw like all of ``values``;
    None when all of them fit. NaN is left out of a bucket's min and max (a bucket of NaN
    only keeps one, so the gap still shows)."""
    n = len(values)
    if n <= points:
        return None
    buckets = max(1, (points - 2) // 2)
    inner = n - 2  # the first and last point are kept as they are
    # A sum is NaN when a value is (or inf meets -inf): then look closer, point by point.
    has_nan = _is_nan(sum(values)) and any(_is_nan(v) for v in values)
    keep = [0]
    for b in range(buckets):
        lo = 1 + b * inner // buckets
        hi = 1 + (b + 1) * inner // buckets
        if lo >= hi:
            continue
        segment = values[lo:hi]
        if has_nan:
            finite = [(v, lo + i) for i, v in enumerate(segment) if not _is_nan(v)]
            if not finite:
                keep.append(lo)
                continue
            low, high = min(finite)[1], max(finite)[1]
        else:
            # C-level min/max over the slice: ~10 ms for 100,000 points.
            low = lo + segment.index(min(segment))
            high = lo + segment.index(max(segment))
        keep.extend(sorted({low, high}))
    keep.append(n - 1)
    return keep


def pick(column: Sequence[Any], indices: list[int]) -> list[Any]:
    """``column``'s items at ``indices``."""
    return [column[i] for i in indices]


_gc_lock = threading.Lock()
_gc_holds = 0
_gc_was_enabled = False


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """No cycle collection while a request builds 100,000s of small lists it frees at once.

    Each of them would otherwise count towards a collection that walks every object of the
    server: that doubled the time of reading a big run's metrics. Nested and concurrent uses
    share one pause; collection resumes (if it was on) when the last one ends.
    """
    global _gc_holds, _gc_was_enabled
    with _gc_lock:
        if _gc_holds == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_holds += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_holds -= 1
            if _gc_holds == 0 and _gc_was_enabled:
                gc.enable()


def _series(
    steps: list[Any],
    values: list[Any],
    times: list[Any],
    points: int | None,
    from_step: int | None,
    to_step: int | None,
    per_second: float = 1e6,
) -> dict[str, Any]:
    """One scalar's columns: cut to the step range, at most ``points`` long (None: all).

    Where points were left out (or cut to a range), a missing step is given as the point's
    index, which the client could no longer count. ``times`` count ``per_second``."""
    if from_step is not None or to_step is not None:
        low = -_STEP_LIMIT if from_step is None else from_step
        high = _STEP_LIMIT if to_step is None else to_step
        xs = [i if s is None else s for i, s in enumerate(steps)]
        inside = [i for i, x in enumerate(xs) if low <= x <= high]
        steps, values, times = pick(xs, inside), pick(values, inside), pick(times, inside)
    count = len(values)
    keep = keep_indices(values, points) if points is not None else None
    if keep is not None:
        steps = [i if steps[i] is None else steps[i] for i in keep]
        values, times = pick(values, keep), pick(times, keep)
    return {
        "steps": steps,
        "values": values,
        "times": [t / per_second for t in times] if per_second != 1 else times,
        "count": count,
        "downsampled": keep is not None,
    }


def chart_columns(
    rows: list[Any],
    points: int | None,
    name: str | None = None,
    from_step: int | None = None,
    to_step: int | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``(scalars, others)`` of the ``GET runs/{id}/metrics`` answer from the store's points.

    ``points``: the most a scalar series holds (None: all, as logged); ``name``: only that
    metric; a step range keeps only scalars whose x lies in it (and no other values).
    """
    ranged = from_step is not None or to_step is not None
    if name is not None:
        rows = [r for r in rows if r[1] == name]
    # Comprehensions, not one loop with branches: a third of the cost a point.
    numbers = [r for r in rows if r[0] == SCALAR and type(r[2]) in _NUMBERS]
    others = []
    if not ranged and len(numbers) < len(rows):
        others = [
            {
                "kind": KIND_NAMES[r[0]],
                "name": r[1],
                "value": r[2],
                "step": r[3],
                "time": r[4] / 1e6,
            }
            for r in rows
            if not (r[0] == SCALAR and type(r[2]) in _NUMBERS)
        ]
    names = {r[1] for r in numbers}
    if len(names) == 1:
        by_name = {names.pop(): numbers}
    else:
        by_name = {}  # in the order first logged
        for r in numbers:
            by_name.setdefault(r[1], []).append(r)
    scalars = {
        key: _series(
            [r[3] for r in series],
            [r[2] for r in series],
            [r[4] for r in series],
            points,
            from_step,
            to_step,
        )
        for key, series in by_name.items()
    }
    return scalars, others


def indexed_chart_columns(
    columns: MetricColumns,
    points: int | None,
    from_step: int | None = None,
    to_step: int | None = None,
) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """:func:`chart_columns` of an ended run, from the store's columns of it (its index): the
    same answer without parsing a line (a 100,000-point metric: ~20 ms, not ~250)."""
    scalars = {}
    for key, (steps, values, seconds) in columns.scalars.items():
        if not all(type(v) in _NUMBERS for v in values):  # text, None: among the others
            kept = [i for i, v in enumerate(values) if type(v) in _NUMBERS]
            steps, values, seconds = pick(steps, kept), pick(values, kept), pick(seconds, kept)
            if not values:
                continue
        scalars[key] = _series(steps, values, seconds, points, from_step, to_step, per_second=1)
    if from_step is not None or to_step is not None:
        return scalars, []
    return scalars, [_other(*o) for o in columns.others]


def _other(kind: str, name: str, value: Any, step: Any, seconds: float) -> dict[str, Any]:
    return {"kind": kind, "name": name, "value": value, "step": step, "time": seconds}

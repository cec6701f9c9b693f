"""An ended run's metrics as one column set per metric, read from its index: a chart's first view.

Parsing the JSON lines of a 100,000-point metric costs about a quarter of a second; reading
its index's columns costs a few milliseconds. :func:`read_columns` answers only where the index
covers every metric file to its end (what ending a run leaves); anywhere else it gives None and
the caller reads the files (:func:`~aml_jupyter.store.metrics.read_new_points`), whose points
hold the same values in the same order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .metric_index import _INDEX_TROUBLE, _View
from .metric_series import OTHER_KINDS, merge
from .metrics import KIND_NAMES, SCALAR, metric_files

#: The types of a scalar that a chart can draw (what JSON parsing gives for numbers).
NUMBERS = (float, int, bool)


@dataclass
class MetricColumns:
    """``scalars``: per metric (in the order first logged), its scalar points as three lists
    ``(steps, values, seconds)`` (step None where none was given); ``others``: every point of
    another kind, and every scalar that is not a number (text, None; also in ``scalars``), as
    ``(kind name, metric, value, step, seconds)``, in read order; ``cursor``: where a poller of
    :meth:`~aml_jupyter.store.base.WorkspaceStore.metric_points` goes on from."""

    scalars: dict[str, tuple[list[Any], list[Any], list[float]]] = field(default_factory=dict)
    others: list[tuple[str, str, Any, Any, float]] = field(default_factory=list)
    cursor: str = ""


def _whole_cursor(folder: Path, covered: dict[str, int]) -> str | None:
    """The cursor past every line of the files, when the index covers all of them; else None."""
    offsets = {}
    for path in metric_files(folder):
        size = path.stat().st_size
        if covered.get(path.name, 0) != size:
            return None  # lines the index has not seen (a live run, or a torn last line)
        if size:
            offsets[path.name] = size
    return ",".join(f"{name}:{offset}" for name, offset in sorted(offsets.items()))


def read_columns(folder: Path, name: str | None = None) -> MetricColumns | None:
    """The metrics in ``folder`` (only ``name``'s when given) from their index, or None where
    the index is missing, damaged or behind the files."""
    try:
        view = _View(folder, name)
    except _INDEX_TROUBLE:
        return None
    try:
        if not view.manifest:
            return None
        cursor = _whole_cursor(folder, dict(view.manifest["files"]))
        if cursor is None:
            return None
        out = MetricColumns(cursor=cursor)
        others: list[tuple[int, int, int, int, tuple[str, str, Any, Any, float]]] = []
        firsts = []
        for order, key in enumerate([name] if name is not None else view.names()):
            parts = view.parts(key)
            merged = merge(parts, with_steps=True)
            if merged.values and merged.first_scalar is not None:
                firsts.append((*merged.first_scalar, order, key))
                out.scalars[key] = (merged.steps, merged.values, merged.seconds)
            for part in parts:
                for seq, rank, kind, value, step, at in part.side:
                    if kind in OTHER_KINDS or (kind == SCALAR and type(value) not in NUMBERS):
                        point = (KIND_NAMES[kind], key, value, step, at / 1e6)
                        others.append((at, rank, order, seq, point))
        # Metrics in the order first logged (time, then file), as the files' reading has them.
        out.scalars = {f[3]: out.scalars[f[3]] for f in sorted(firsts)}
        others.sort(key=lambda o: o[:4])  # read order: time, then file, then line
        out.others = [o[4] for o in others]
        return out
    except _INDEX_TROUBLE:
        return None
    finally:
        view.close()

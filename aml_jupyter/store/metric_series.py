"""Points grouped per metric, compactly: what the metric index spills to disk and what readers
merge back (see :mod:`aml_jupyter.store.metric_index`).

A metric's numbers that fit its column (float64 or int64, chosen by its first number) go into
``array`` columns, 8 bytes a value instead of a Python object; anything else (strings, bools,
None, an int among floats, an int beyond int64, lists, rows, tables, images) is a *side point*
``[seq, rank, kind, value, step, time]``. ``seq`` numbers a metric's points in file order and
``rank`` is the file's place in name order: with the time they give back the order of
:func:`~aml_jupyter.store.metrics.read_points` (time, then file, then line).
"""

from __future__ import annotations

from array import array
from itertools import islice, pairwise
from operator import le
from typing import Any

from .limits import INT64_MAX, INT64_MIN
from .metrics import IMAGE, LIST, ROW, SCALAR, TABLE, valid_rows

#: Marks "no step" in a steps column (a step equal to it is kept as a side point instead).
NO_STEP = INT64_MIN
TYPECODES = {float: "d", int: "q"}
#: Kinds folded by :func:`~aml_jupyter.store.metrics.fold_other` (a build may also write
#: ``"-"``: a point it could not re-encode, counted as skipped and ignored on reading).
OTHER_KINDS = frozenset((LIST, ROW, TABLE, IMAGE))
TOMBSTONE = "-"


class Series:
    """One metric's points not yet written (or, for a reader, all that were read)."""

    __slots__ = ("base", "blocks", "name", "side", "steps", "t", "v", "vtype")

    def __init__(self, name: str, vtype: type | None = None) -> None:
        self.name = name
        self.vtype = vtype  # float or int: the column's type; None until the first number
        self.t = array("q")
        self.v: array[Any] = array(TYPECODES.get(vtype, "d"))  # type: ignore[arg-type]
        self.steps: array[int] | None = None  # made at the first step given: None = no steps
        self.side: list[list[Any]] = []
        self.base = 0  # points (column and side) already written out
        self.blocks: list[list[int]] = []  # [rank, count, ...] runs of column points by file

    def other(self, kind: str, value: Any, step: Any, at: int, rank: int) -> int:
        """A point the fast path did not take: the metric's first number (0 returned), or a
        side point (1)."""
        vtype = type(value)
        if (
            kind == SCALAR
            and self.vtype is None
            and vtype in TYPECODES
            and (vtype is float or INT64_MIN <= value <= INT64_MAX)
            and (step is None or NO_STEP < step <= INT64_MAX)
        ):
            self.vtype, self.v = vtype, array(TYPECODES[vtype], [value])
            self.t.append(at)
            if step is not None:
                self.steps = array("q", [step])
            return 0
        self.side.append([self.base + len(self.t) + len(self.side), rank, kind, value, step, at])
        return 1

    def begin_steps(self, step: int) -> None:
        """The first step given since the last write: earlier column points had none."""
        self.steps = array("q", [NO_STEP]) * (len(self.t) - 1)
        self.steps.append(step)

    def take(self) -> tuple[array[int], array[Any], array[int] | None, list[list[Any]]]:
        """The buffered points, emptying the buffers (after a spill to disk)."""
        out = self.t, self.v, self.steps, self.side
        self.base += len(self.t) + len(self.side)
        self.t, self.v, self.steps, self.side = array("q"), array(self.v.typecode), None, []
        return out


class Collector:
    """Groups points per metric, in the order they are given (file by file), skipping and
    counting malformed ones: the same lines :func:`~aml_jupyter.store.metrics.valid_rows`
    drops, checked here in the one loop that a build's cost is."""

    def __init__(self, hints: dict[str, type | None] | None = None, only: str | None = None):
        self.series: dict[str, Series] = {}
        self.hints = hints or {}  # column types of an index the points will be merged with
        self.only = only  # keep this metric alone (other lines are not checked or counted)
        self.buffered = 0
        self.side_points = 0  # buffered: a build writes them out after the chunk (any size)
        self.skipped = 0

    def add(self, values: list[Any], rank: int) -> None:
        """Add the decoded lines of one chunk of file ``rank``."""
        series, only = self.series, self.only
        for row in values:
            try:
                kind, name, value, step, at = row
                if only is not None and name != only:
                    continue
                s = series[name]  # KeyError: a name not seen yet; TypeError: not a string
            except (ValueError, TypeError, KeyError):
                self._checked(row, rank)
                continue
            if (
                kind == SCALAR
                and type(value) is s.vtype
                and type(row) is list
                and type(at) is int
                and (step is None or (type(step) is int and NO_STEP < step <= INT64_MAX))
            ):
                try:
                    s.t.append(at)
                except OverflowError:  # a time beyond int64: malformed
                    self.skipped += 1
                    continue
                try:
                    s.v.append(value)
                except OverflowError:  # an int beyond int64: a side point
                    s.t.pop()
                    self.side_points += s.other(kind, value, step, at, rank)
                    continue
                if s.steps is not None:
                    s.steps.append(NO_STEP if step is None else step)
                elif step is not None:
                    s.begin_steps(step)
            else:
                self._checked(row, rank)
        self.buffered += len(values)

    def _checked(self, row: Any, rank: int) -> None:
        """The slow path: check the line in full, then take it as a side point (or a first)."""
        if valid_rows([row])[1]:
            self.skipped += 1
            return
        kind, name, value, step, at = row
        if self.only is not None and name != self.only:
            return
        s = self.series.get(name)
        if s is None:
            s = self.series[name] = Series(name, self.hints.get(name))
        self.side_points += s.other(kind, value, step, at, rank)

    def mark_file(self, rank: int) -> None:
        """End of file ``rank`` for an in-memory reader: note which column points it gave."""
        for s in self.series.values():
            done = sum(block[1] for block in s.blocks)
            if len(s.t) > done:
                s.blocks.append([rank, len(s.t) - done])


class Part:
    """One source of a metric's points for :func:`merge`: index columns or lines just read.

    ``t``/``v``/``steps`` are ``array`` columns of the column points (``steps`` None when no
    step was given), ``blocks`` their ``[file rank, count]`` runs; ``side`` the side points;
    ``n`` all points (column and side); ``ordered`` when the column's times never decrease.
    """

    __slots__ = ("blocks", "n", "ordered", "side", "steps", "t", "v")

    def __init__(
        self,
        t: array[int],
        v: array[Any],
        steps: array[int] | None,
        blocks: list[list[int]],
        side: list[list[Any]],
        n: int,
        ordered: bool = False,
    ) -> None:
        self.t, self.v, self.steps, self.blocks = t, v, steps, blocks
        self.side, self.n, self.ordered = side, n, ordered

    def ranks(self) -> Any:
        """The file rank of each column point (numpy)."""
        import numpy as np

        ranks = np.array([b[0] for b in self.blocks], np.int64)
        return np.repeat(ranks, [b[1] for b in self.blocks])


def part_of(s: Series) -> Part:
    """A :class:`Part` of an in-memory series (its columns, not copied)."""
    return Part(s.t, s.v, s.steps, [b[:2] for b in s.blocks], s.side, len(s.t) + len(s.side))


def is_ordered(t: array[int]) -> bool:
    """True when the times never decrease (C-level: no numpy needed)."""
    return all(map(le, t, islice(t, 1, None)))


class Merged:
    """A metric's points in read order: scalars as lists, other kinds as ``(kind, value)``."""

    __slots__ = ("first_other", "first_scalar", "others", "seconds", "steps", "values")

    def __init__(self) -> None:
        self.values: list[Any] = []
        self.steps: list[Any] = []  # and seconds: filled for a history only
        self.seconds: list[float] = []
        self.others: list[tuple[str, Any]] = []
        self.first_scalar: tuple[int, int] | None = None  # (time, rank) of the first of each
        self.first_other: tuple[int, int] | None = None


def _steps_list(steps: Any) -> list[Any]:
    return [None if s == NO_STEP else s for s in steps.tolist()]


def merge(parts: list[Part], with_steps: bool = False) -> Merged:
    """Merge a metric's parts into read order: by time, then file rank, then line."""
    out = Merged()
    side, offset = [], 0
    for p in parts:
        side += [
            (at, rank, offset + seq, kind, value, step)
            for seq, rank, kind, value, step, at in p.side
        ]
        offset += p.n
    others = sorted((x for x in side if x[3] in OTHER_KINDS), key=lambda x: x[:3])
    out.others = [(x[3], x[4]) for x in others]
    out.first_other = others[0][:2] if others else None
    scalar_side = [x for x in side if x[3] == SCALAR]
    cols = [p for p in parts if len(p.t)]
    if not cols and not scalar_side:
        return out
    if not scalar_side and len(cols) == 1 and cols[0].ordered:
        # An ended run's metric, from its index alone: no sort, no numpy (its import alone
        # can take longer than the read).
        p = cols[0]
        out.values = p.v.tolist()
        out.first_scalar = (p.t[0], p.blocks[0][0])
        if with_steps:
            out.seconds = [at / 1e6 for at in p.t]
            out.steps = [None] * len(p.t) if p.steps is None else _steps_list(p.steps)
        return out
    if scalar_side or len({p.v.typecode for p in cols}) > 1:
        _merge_general(out, parts, scalar_side, with_steps)
        return out
    _merge_columns(out, cols, with_steps)
    return out


def _np(column: array[Any]) -> Any:
    import numpy as np

    return np.frombuffer(column, np.float64 if column.typecode == "d" else np.int64)


def _merge_columns(out: Merged, cols: list[Part], with_steps: bool) -> None:
    """Numbers only, of one column type; each part is already in (file, line) order."""
    import numpy as np

    t = np.concatenate([_np(p.t) for p in cols])
    v = np.concatenate([_np(p.v) for p in cols])
    blocks = [b for p in cols for b in p.blocks]
    order = None
    if any(a[0] > b[0] for a, b in pairwise(blocks)):  # a tail after a newer file
        order = np.lexsort((np.concatenate([p.ranks() for p in cols]), t))
    elif np.any(t[1:] < t[:-1]):  # interleaved processes, or a clock stepped back
        order = np.argsort(t, kind="stable")
    out.values = (v if order is None else v[order]).tolist()
    times = t if order is None else t[order]
    first = 0 if order is None else int(order[0])
    for rank, count in blocks:
        if first < count:
            out.first_scalar = (int(times[0]), rank)
            break
        first -= count
    if with_steps:
        out.seconds = (times / 1e6).tolist()
        if all(p.steps is None for p in cols):
            out.steps = [None] * len(t)
        else:
            steps = np.concatenate(
                [np.full(len(p.t), NO_STEP) if p.steps is None else _np(p.steps) for p in cols]
            )
            out.steps = _steps_list(steps if order is None else steps[order])


def _merge_general(out: Merged, parts: list[Part], scalar_side: list[Any], with_steps: bool):
    """Column and side scalars together (Python objects: side values may be any JSON)."""
    import numpy as np

    times, ranks, ordinals = [], [], []
    values: list[Any] = []
    steps: list[Any] = []
    offset = 0
    for p in parts:
        if len(p.t):
            seqs = np.arange(p.n, dtype=np.int64)
            if p.side:  # column points take the sequence numbers the side points left
                seqs = np.setdiff1d(seqs, [x[0] for x in p.side], assume_unique=True)
            times.append(_np(p.t))
            ranks.append(p.ranks())
            ordinals.append(seqs + offset)
            values += p.v.tolist()
            if with_steps:
                steps += [None] * len(p.t) if p.steps is None else _steps_list(p.steps)
        offset += p.n
    times.append(np.array([x[0] for x in scalar_side], np.int64))
    ranks.append(np.array([x[1] for x in scalar_side], np.int64))
    ordinals.append(np.array([x[2] for x in scalar_side], np.int64))
    values += [x[4] for x in scalar_side]
    steps += [x[5] for x in scalar_side]
    t = np.concatenate(times)
    r = np.concatenate(ranks)
    order = np.lexsort((np.concatenate(ordinals), r, t)).tolist()
    out.values = [values[i] for i in order]
    out.first_scalar = (int(t[order[0]]), int(r[order[0]]))
    if with_steps:
        out.steps = [steps[i] for i in order]
        out.seconds = (t[order] / 1e6).tolist()

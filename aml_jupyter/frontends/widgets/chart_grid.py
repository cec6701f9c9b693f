"""The grid of metric charts in ``RunDetails``: one PNG ``Image`` per numeric metric.

Charts are redrawn only when their metric changed, each at most every ``interval`` seconds,
and a poll spends at most ``budget`` seconds drawing (the rest wait for the next poll, stalest
first), so a run with 100 metrics updating together keeps the kernel responsive. A text
filter narrows the grid when there are many charts; hidden charts are not redrawn until shown.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

import ipywidgets as w

from .charts import MetricSeries, Painter

#: The filter box appears when there are more charts than this.
FILTER_FROM = 6


class Drawn:
    """What a chart's PNG shows: the series version, point count and newest point's log
    time, and when it was drawn (``time.monotonic()``)."""

    __slots__ = ("at", "count", "time", "version")

    def __init__(self, version: int, count: int, time: float, at: float) -> None:
        self.version, self.count, self.time, self.at = version, count, time, at


class ChartGrid:
    """Charts of a run's metrics, laid out in a responsive grid (``box`` is the widget).

    ``charts``: ``{name: ipywidgets.Image}``, one per numeric metric (created when the metric
    first appears, filled when first drawn). ``chart_times``: ``{name: log time of the newest
    point drawn}``. ``metric_filter``: the Text that filters the grid.
    """

    def __init__(self, lock: threading.RLock) -> None:
        self._lock = lock
        self.charts: dict[str, w.Image] = {}
        self.chart_times: dict[str, float] = {}
        self.drawn: dict[str, Drawn] = {}
        self._painter: Painter | None = None  # made on first draw (imports matplotlib)
        self.metric_filter = w.Text(
            placeholder="filter charts: part of a metric name",
            layout=w.Layout(width="360px", display="none"),
        )
        self.metric_filter.observe(lambda _: self.layout(), names="value")
        self.grid = w.GridBox(
            layout=w.Layout(
                grid_template_columns="repeat(auto-fill, minmax(370px, 1fr))",
                grid_gap="4px",
                max_height="720px",
                overflow="auto",
            )
        )
        self.box = w.VBox([self.metric_filter, self.grid], layout=w.Layout(display="none"))

    def add(self, names: list[str]) -> None:
        """Make sure each metric in ``names`` has its chart (drawn later by :meth:`draw`)."""
        for name in names:
            if name not in self.charts:
                self.charts[name] = w.Image(format="png", layout=w.Layout(max_width="100%"))
        if self.charts:
            self.box.layout.display = ""
            self.metric_filter.layout.display = "" if len(self.charts) > FILTER_FROM else "none"

    def visible(self) -> list[str]:
        """Charts matching the filter, in the order their metrics were first logged."""
        needle = self.metric_filter.value.strip().lower()
        return [name for name in self.charts if needle in name.lower()]

    def layout(self) -> None:
        """Put the visible, drawn charts in the grid (the filter's callback calls this too)."""
        with self._lock:
            shown = [self.charts[n] for n in self.visible() if n in self.drawn]
            if list(self.grid.children) != shown:
                self.grid.children = tuple(shown)

    def draw(
        self, series: Mapping[str, MetricSeries], force: bool, interval: float, budget: float
    ) -> bool:
        """Redraw stale charts; True when some were left for the next poll.

        ``force``: every stale chart now, hidden or not, however long it takes (the final
        refresh of an ended run).
        """
        now = time.monotonic()
        stale: list[tuple[float, str]] = []
        for name in list(self.charts) if force else self.visible():
            drawn = self.drawn.get(name)
            if drawn is None:
                stale.append((-1.0, name))
            elif drawn.version != series[name].version and (force or now - drawn.at >= interval):
                stale.append((drawn.at, name))
        stale.sort()  # never drawn first, then the longest waiting
        deadline = time.perf_counter() + budget
        added = False
        behind = False
        for _, name in stale:
            if not force and time.perf_counter() > deadline:
                behind = True
                break
            if self._painter is None:
                self._painter = Painter()
            metric = series[name]
            try:
                png = self._painter.render(metric)
            except Exception:  # values matplotlib cannot draw: skip until the metric changes
                png = b""
            added |= name not in self.drawn
            self.drawn[name] = Drawn(
                metric.version, metric.count, metric.last_time, time.monotonic()
            )
            self.chart_times[name] = metric.last_time
            self.charts[name].value = png
        if added:
            self.layout()
        return behind

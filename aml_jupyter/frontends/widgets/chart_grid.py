"""The grid of metric charts in ``RunDetails``: one PNG ``Image`` per metric series.

Only *open* charts are drawn: the first :data:`OPEN_CHARTS` that match the text filter, and
any opened by hand (its "Show chart" button, or "Show all charts"). The others show their name
and a button, so a run with 100 metrics costs a few charts' drawing, not a hundred. Charts are
redrawn only when their metric changed, each at most every ``interval`` seconds, and a poll
spends at most ``budget`` seconds drawing (the rest wait for the next poll, stalest first), so
a live run with 100 metrics updating together keeps the kernel responsive.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

import ipywidgets as w

from . import render
from .charts import MetricSeries, Painter

#: The filter box appears when there are more charts than this.
FILTER_FROM = 6
#: Charts drawn without being asked for: the first this many that match the filter.
OPEN_CHARTS = 12


class Drawn:
    """What a chart's PNG shows: the series version, point count and newest point's log
    time, and when it was drawn (``time.monotonic()``)."""

    __slots__ = ("at", "count", "time", "version")

    def __init__(self, version: int, count: int, time: float, at: float) -> None:
        self.version, self.count, self.time, self.at = version, count, time, at


class ChartGrid:
    """Charts of a run's metric series, laid out in a responsive grid (``box`` is the widget).

    ``charts``: ``{name: ipywidgets.Image}``, one per series (created when the metric has two
    numbers, filled when first drawn). ``chart_times``: ``{name: log time of the newest point
    drawn}``. ``metric_filter``: the Text that filters the grid. ``show_buttons``: ``{name:
    Button}`` that opens (draws) a chart not drawn yet; ``show_all_button`` opens them all.
    ``on_pending`` is called (under the lock) when open charts wait to be drawn outside a poll.
    """

    def __init__(
        self,
        lock: threading.RLock,
        series: Mapping[str, MetricSeries],
        open_charts: int = OPEN_CHARTS,
        on_pending: Callable[[], None] | None = None,
    ) -> None:
        self._lock = lock
        self._series = series
        self.open_charts = open_charts
        self.on_pending = on_pending
        self.charts: dict[str, w.Image] = {}
        self.titles: dict[str, w.HTML] = {}
        self.show_buttons: dict[str, w.Button] = {}
        self.cells: dict[str, w.VBox] = {}
        self.chart_times: dict[str, float] = {}
        self.drawn: dict[str, Drawn] = {}
        #: Charts opened by hand or drawn once (they stay open).
        self.opened: set[str] = set()
        self.order: list[str] = []  # chart names in first-logged order
        self._painter: Painter | None = None  # made on first draw (imports matplotlib)
        self.metric_filter = w.Text(
            placeholder="filter charts: part of a metric name",
            layout=w.Layout(width="360px", display="none"),
        )
        self.metric_filter.observe(lambda _: self.layout(), names="value")
        self.show_all_button = w.Button(
            description="Show all charts",
            tooltip="Draw every chart that matches the filter",
            layout=w.Layout(display="none"),
        )
        self.show_all_button.on_click(lambda _: self.show_all())
        self.grid = w.GridBox(
            layout=w.Layout(
                grid_template_columns="repeat(auto-fill, minmax(370px, 1fr))",
                grid_gap="4px",
                max_height="720px",
                overflow="auto",
            )
        )
        self.box = w.VBox(
            [w.HBox([self.metric_filter, self.show_all_button]), self.grid],
            layout=w.Layout(display="none"),
        )

    def add(self, names: list[str]) -> None:
        """Make sure each series in ``names`` (every chart, in order) has its chart cell."""
        with self._lock:
            for name in names:
                if name not in self.charts:
                    self._new_cell(name)
            if names != self.order:
                self.order = list(names)
                self.layout()
            if self.charts:
                self.box.layout.display = ""
                many = len(self.charts) > FILTER_FROM
                self.metric_filter.layout.display = "" if many else "none"

    def _new_cell(self, name: str) -> None:
        self.charts[name] = w.Image(format="png", layout=w.Layout(max_width="100%", display="none"))
        self.titles[name] = w.HTML(render.chart_title_html(name))
        button = w.Button(
            description="Show chart", icon="line-chart", tooltip=f"Draw {name}",
            layout=w.Layout(width="auto", display="none"),
        )  # fmt: skip
        button.on_click(lambda _: self.open(name))
        self.show_buttons[name] = button
        self.cells[name] = w.VBox([self.titles[name], self.charts[name], button])

    # which charts are shown and drawn -----------------------------------------------------------
    def visible(self) -> list[str]:
        """Charts matching the filter, in the order their metrics were first logged."""
        needle = self.metric_filter.value.strip().lower()
        return [name for name in self.order if needle in name.lower()]

    def open_names(self) -> list[str]:
        """The visible charts that are drawn and kept current: the first :attr:`open_charts`
        that match the filter, and those opened by hand or drawn before."""
        shown = self.visible()
        first = set(shown[: self.open_charts])
        return [name for name in shown if name in first or name in self.opened]

    def pending(self) -> list[str]:
        """Open charts whose picture is missing or older than their series."""
        return [name for name in self.open_names() if self._stale(name)]

    def _stale(self, name: str) -> bool:
        drawn = self.drawn.get(name)
        return drawn is None or drawn.version != self._series[name].version

    def layout(self) -> None:
        """Put the visible charts in the grid, a button on each one not open (the filter's
        callback calls this too); asks for the open ones still to draw."""
        with self._lock:
            shown = self.visible()
            opened = set(self.open_names())
            for name in shown:
                is_open = name in opened
                self.show_buttons[name].layout.display = "none" if is_open else ""
            cells = [self.cells[name] for name in shown]
            if list(self.grid.children) != cells:
                self.grid.children = tuple(cells)
            closed = len(shown) - len(opened)
            self.show_all_button.layout.display = "" if closed else "none"
            self.show_all_button.description = f"Show all charts ({closed} more)"
            if self.on_pending is not None and any(n not in self.drawn for n in opened):
                self.on_pending()

    def open(self, name: str) -> None:
        """Open one chart and draw it now (its "Show chart" button)."""
        with self._lock:
            self.opened.add(name)
            self.show_buttons[name].layout.display = "none"
            self._draw_one(name)
            self.layout()

    def show_all(self) -> None:
        """Open every visible chart; they are drawn in the background, a few at a time."""
        with self._lock:
            self.opened.update(self.visible())
            self.layout()

    # drawing ------------------------------------------------------------------------------------
    def draw(
        self,
        series: Mapping[str, MetricSeries],
        force: bool,
        interval: float,
        budget: float,
        limit: int | None = None,
    ) -> bool:
        """Redraw stale open charts; True when some were left for later.

        ``force``: every stale open chart now, however long it takes and however recently it
        was drawn (the final refresh of an ended run); ``limit``: at most that many charts.
        """
        self._series = series
        now = time.monotonic()
        stale: list[tuple[float, str]] = []
        for name in self.open_names():
            drawn = self.drawn.get(name)
            if drawn is None:
                stale.append((-1.0, name))
            elif drawn.version != series[name].version and (force or now - drawn.at >= interval):
                stale.append((drawn.at, name))
        stale.sort()  # never drawn first, then the longest waiting
        deadline = time.perf_counter() + budget
        for done, (_, name) in enumerate(stale):
            if (limit is not None and done >= limit) or (
                not force and time.perf_counter() > deadline
            ):
                return True
            self._draw_one(name)
        return False

    def _draw_one(self, name: str) -> None:
        if self._painter is None:
            self._painter = Painter()
        metric = self._series[name]
        try:
            png = self._painter.render(metric)
        except Exception:  # values matplotlib cannot draw: skip until the metric changes
            png = b""
        self.drawn[name] = Drawn(metric.version, metric.count, metric.last_time, time.monotonic())
        self.opened.add(name)
        self.chart_times[name] = metric.last_time
        self.charts[name].value = png
        self.charts[name].layout.display = ""
        self.titles[name].value = render.chart_title_html(name, metric)

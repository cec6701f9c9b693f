"""``RunDetails``: a live view of a run in a notebook, as Azure ML v1's ``azureml.widgets``.

Standard ipywidgets only (HTML, Image, Tab, …) and PNG charts drawn with matplotlib's Agg
canvas, so it renders wherever ipywidgets 8 does: JupyterLab 4, Notebook 7, VS Code. (v1's
widget needed its own JavaScript extension and so never showed in JupyterLab or VS Code.)

One daemon thread per widget reads what is new (the log from a byte offset, metrics from a
cursor) and sets widget values; the kernel is never blocked and no ``with out:`` runs off
the main thread. It polls every 0.2 s while output keeps coming, slows towards 2 s while the
run is quiet, and ends after a final refresh once the run has ended.

Big runs stay fast: the widget shows its status, summary table and log first; a finished
run's metric points are read in a background thread when they take longer than
:data:`READ_WAIT_S`; only open charts are drawn (:mod:`.chart_grid`), the first
:data:`FIRST_CHARTS` before the widget returns and the rest in the background.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from typing import Any

import ipywidgets as w

from ...errors import AmlError
from ...tracking.run import Run
from . import render
from .chart_grid import OPEN_CHARTS, ChartGrid
from .feed import RunFeed, parse_utc
from .files_panel import FilesPanel
from .following import FIRST_CHARTS, READ_WAIT_S, Following, note
from .logged_panel import LoggedPanel

#: Seconds between reads of what changes rarely: details and tags, child runs, the file list.
_SLOW_READS = {"details": 2.0, "children": 1.0, "files": 2.0}


def _local_time(text: str | None) -> str:
    stamp = parse_utc(text)
    return "-" if stamp is None else datetime.fromtimestamp(stamp).strftime("%Y-%m-%d %H:%M:%S")


class RunDetails(Following):
    """A live view of ``run``: ``RunDetails(run).show()``, or ``RunDetails(run)`` last in a cell.

    Shows the status, target, duration, script and arguments and tags; a summary table of
    the arguments, the metrics logged once and the tags (name -> value); the driver log tail
    (new lines within about 0.5 s); a chart per metric series (2+ numbers; x = step when
    logged, else the index); ``log_row``/``log_table``/``log_list`` tables; ``log_image``
    images; child runs with their status and last metrics; the run's files with a download
    button; a failed run's error; an "Open TensorBoard" button when the run wrote TensorBoard
    event files under ``logs/``. Charts are transparent PNGs and the HTML uses JupyterLab's
    theme variables, so the view reads on light and dark themes.

    A run that has already ended is read once, at construction: no thread (but for a big run,
    whose metrics are read and open charts drawn in the background). For an active run,
    :meth:`show` (or :meth:`start`) starts one daemon thread that keeps the view current and
    stops by itself after a final refresh when the run ends (or on :meth:`stop`).

    Keyword arguments: ``poll_interval`` (fastest poll, s), ``max_poll_interval`` (slowest,
    for quiet runs), ``chart_interval`` (least time between redraws of one chart),
    ``log_lines`` (log tail length), ``draw_budget`` (seconds of chart drawing per poll),
    ``open_charts`` (charts drawn without a click: the first that match the filter).

    Attributes (widgets; read them in tests, or place them in your own layouts):

    * ``widget``: the whole view (a ``VBox``).
    * ``status_label``: HTML; its value holds the status word with icon and colour.
    * ``duration_label``, ``title_view``, ``details_view``: HTML of the header.
    * ``summary_view``: HTML table of arguments, single-value metrics and tags.
    * ``log_view``: HTML; its value holds the escaped log tail in a ``<pre>``.
    * ``charts``: ``{metric name: ipywidgets.Image}`` (PNG), one per metric series; empty
      until drawn. ``show_chart_buttons``: ``{name: Button}`` drawing one not open yet;
      ``show_all_charts_button``; ``charts_drawn``: the names drawn so far.
    * ``chart_times``: ``{metric name: log time (epoch s) of the newest point drawn}``.
    * ``metric_filter``: Text that filters the chart grid (shown when there are many charts).
    * ``values_view``: HTML table of every metric's last value.
    * ``tables``: ``{name: ipywidgets.HTML}``; ``images``: ``{name: ipywidgets.Image}``.
    * ``children_table``, ``files_view``, ``error_view``, ``notice``: HTML.
    * ``download_select``, ``download_button``, ``download_message``: save a run file here.
    * ``tensorboard_button``, ``tensorboard_link``: shown when there are event files.
    * ``thread``: the polling thread (None when none was started); ``background``: the
      thread reading a finished run's metrics or drawing its charts (None when none).
    """

    def __init__(
        self,
        run_instance: Run,
        *,
        poll_interval: float = 0.2,
        max_poll_interval: float = 2.0,
        chart_interval: float = 1.0,
        log_lines: int = 500,
        draw_budget: float = 0.25,
        open_charts: int = OPEN_CHARTS,
    ) -> None:
        if not isinstance(run_instance, Run):
            raise AmlError(f"RunDetails takes a Run, got {type(run_instance).__name__}.")
        self.run = run_instance
        self.poll_interval = poll_interval
        self.max_poll_interval = max(max_poll_interval, poll_interval)
        self.chart_interval = chart_interval
        self.draw_budget = draw_budget
        self.thread: threading.Thread | None = None
        self.background: threading.Thread | None = None
        self.open_charts = open_charts
        self._logged = LoggedPanel(run_instance)
        self.tables, self.images = self._logged.tables, self._logged.images
        self._feed = RunFeed(run_instance, log_lines=log_lines)
        self._lock = threading.RLock()  # the view's state: held briefly, never while reading
        # One metric reader at a time (taken before _lock, never inside it): the cursor moves
        # once per point however many threads refresh.
        self._read_lock = threading.Lock()
        self._started = False  # shown (or started): background drawing may begin
        self._waiting = False  # the constructor still waits for a finished run's points
        self._load_error = ""
        self._stop_event = threading.Event()
        self._next_read = dict.fromkeys(_SLOW_READS, 0.0)
        self._behind = False  # charts left for the next poll (drawing budget spent)
        self._interval = poll_interval  # the polling thread's current interval
        self._build()
        with self._read_lock, self._lock:
            self._feed.read_status()
            if not self._feed.ended:
                self._feed.read_details()
                self._show_details()
                self._show_summary()
                return
        self._open_ended()

    # layout -----------------------------------------------------------------------------------
    def _build(self) -> None:
        self.status_label = w.HTML()
        self.duration_label = w.HTML()
        self.title_view = w.HTML()
        self.details_view = w.HTML()
        self.error_view = w.HTML(layout=w.Layout(display="none"))
        self.notice = w.HTML()
        self.summary_view = w.HTML()
        self._grid = grid = ChartGrid(
            self._lock, self._feed.series, self.open_charts, self._draw_in_background
        )
        self.charts, self.chart_times = grid.charts, grid.chart_times
        self.metric_filter, self.show_chart_buttons = grid.metric_filter, grid.show_buttons
        self.show_all_charts_button = grid.show_all_button
        self._files = files = FilesPanel(self.run)
        self.files_view, self.download_select = files.files_view, files.download_select
        self.download_button, self.download_message = files.download_button, files.download_message
        self.tensorboard_button, self.tensorboard_link = (
            files.tensorboard_button,
            files.tensorboard_link,
        )
        self.log_view = w.HTML(render.log_html("", False))
        self.values_view = w.HTML(render.values_html({}))
        self.children_table = w.HTML(render.children_html([], 0))
        self._tabs = w.Tab(
            children=[
                self.log_view,
                self.values_view,
                self._logged.tables_box,
                self._logged.images_box,
                self.children_table,
                files.view,
            ]
        )
        self._update_titles()
        header = w.HBox(
            [self.status_label, self.duration_label, self.title_view],
            layout=w.Layout(align_items="center", grid_gap="12px"),
        )
        self.widget = w.VBox(
            [
                header,
                self.details_view,
                self.error_view,
                self.summary_view,
                files.tensorboard_box,
                self._grid.box,
                self._tabs,
                self.notice,
            ]
        )

    def _update_titles(self) -> None:
        feed = self._feed
        counts = [
            ("Log", None),
            ("Metrics", len(feed.series)),
            ("Tables", len(feed.tables)),
            ("Images", len(feed.images)),
            ("Child runs", len(feed.children)),
            ("Files", len(feed.files)),
        ]
        titles = tuple(name if n is None else f"{name} ({n})" for name, n in counts)
        if tuple(self._tabs.titles) != titles:
            self._tabs.titles = titles

    # showing it -------------------------------------------------------------------------------
    def show(self) -> None:
        """Display the widget in the notebook and start following the run (v1 name)."""
        from IPython.display import display

        self.start()
        display(self)

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        """Jupyter shows the standard widget (``RunDetails(run)`` last in a cell works too)."""
        self.start()
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"RunDetails(run {self.run.id}, {self._feed.status}, watching={self.is_watching})"

    # reading and showing ----------------------------------------------------------------------
    def refresh(self) -> bool:
        """Read what is new and update the view now; True when something changed.

        The thread calls this. Once the run has ended, it reads everything a last time and
        draws every open chart (the final refresh). Safe to call from any thread.
        """
        return self._refresh(draw_limit=None)

    def _refresh(self, draw_limit: int | None) -> bool:
        with self._read_lock:
            # Status first: an ended run has written everything. Points are fetched outside
            # the view's lock: clicks and the filter stay live while a big run is read.
            status_changed = self._feed.read_status()
            points = self._feed.fetch_metric_points()
            with self._lock:
                final = self._feed.ended
                changed = self._show_run(final, status_changed)
                names = self._feed.fold_metrics(points)
                if names:
                    changed = True
                    self._show_metrics(names)
                self._behind = self._grid.draw(
                    self._feed.series,
                    force=final,
                    interval=self.chart_interval,
                    budget=self.draw_budget,
                    limit=draw_limit if final else None,
                )
                if final:
                    self._show_end()
                self._update_titles()
                return changed

    def _show_run(self, final: bool, status_changed: bool = False) -> bool:
        """Read and show all but the metrics: details, log, children, files."""
        feed = self._feed
        now = time.monotonic()
        changed = status_changed

        def due(key: str) -> bool:
            if final or status_changed or now >= self._next_read[key]:
                # A quiet run (long poll interval) has these read less often too.
                self._next_read[key] = now + max(_SLOW_READS[key], 4 * self._interval)
                return True
            return False

        if due("details") and feed.read_details():
            changed = True
            self._show_summary()
        self._show_details()
        if feed.read_log():
            changed = True
            self.log_view.value = render.log_html(feed.log_text, feed.log_truncated)
        if due("children") and feed.read_children():
            changed = True
        if feed.children:
            self.children_table.value = render.children_html(feed.children, time.time())
        if due("files") and feed.read_files():
            changed = True
            self._show_files()
        return changed

    def _show_details(self) -> None:
        feed = self._feed
        self.status_label.value = render.status_badge(feed.status)
        self.duration_label.value = render.duration_html(feed.duration(time.time()))
        if feed.details:
            self.title_view.value = render.title_html(feed.details)
            self.details_view.value = render.details_html(feed.details, _local_time)

    def _show_summary(self) -> None:
        html = render.summary_html(self._feed.summary())
        self.summary_view.value = html
        self.summary_view.layout.display = "" if html else "none"

    def _show_metrics(self, names: set[str]) -> None:
        feed = self._feed
        self._grid.add(feed.chartable())
        self._show_summary()  # a value logged a second time moves from the table to a chart
        self._logged.show(feed, names)
        self.values_view.value = render.values_html(feed.values())

    def _show_files(self) -> None:
        self._files.show(self._feed.files)

    def _show_end(self) -> None:
        feed = self._feed
        error = feed.error
        if error is not None:
            self.error_view.value = render.error_html(error, feed.log_tail(20))
            self.error_view.layout.display = ""
        self.duration_label.value = render.duration_html(feed.duration(time.time()))
        self.notice.value = note(f"Run {feed.status}: this view is final.{self._load_error}")

    # as data ----------------------------------------------------------------------------------
    @property
    def charts_drawn(self) -> list[str]:
        """Names of the charts drawn so far (the others wait to be opened or drawn)."""
        return [name for name in self.charts if name in self._grid.drawn]

    def get_widget_data(self, widget_settings: Any = None) -> dict[str, Any]:
        """What the widget shows, as a plain dict (v1 name): status, details, log tail,
        metrics, tables, images, child runs, files and error. (``widget_settings`` is
        accepted for v1 code and ignored.)"""
        with self._lock:
            data = self._feed.as_data()
            data["command"] = render.command_text(self._feed.details)
            data["charts"] = list(self.charts)
            data["charts_drawn"] = self.charts_drawn
            data["tensorboard"] = self._files.offers_tensorboard
            data["watching"] = self.is_watching
            return data


__all__ = ["FIRST_CHARTS", "READ_WAIT_S", "RunDetails"]

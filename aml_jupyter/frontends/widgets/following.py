"""The threads that keep a :class:`~.run_details.RunDetails` current: the poller of a live
run (0.2 s while output keeps coming, slowing towards 2 s while the run is quiet, a final
refresh once it ends), and for a finished run the reader of its metric points and the drawer
of its open charts, in the background so the widget shows at once."""

from __future__ import annotations

import threading
import time
from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import ipywidgets as w

    from ...tracking.run import Run
    from .chart_grid import ChartGrid
    from .feed import RunFeed
    from .files_panel import FilesPanel

#: Consecutive failed refreshes after which the thread gives up (e.g. the workspace was deleted).
_MAX_FAILURES = 10
#: Seconds a finished run's metric points may take to read before the widget is shown without
#: them (they then come from a background thread, as its charts do).
READ_WAIT_S = 0.5
#: Charts a finished run's widget draws before it returns; other open ones follow in the
#: background once it is shown.
FIRST_CHARTS = 4


def note(text: str) -> str:
    """A quiet line of HTML under the widget (what it is doing, or why it stopped)."""
    return f'<span style="opacity:.7;font-size:90%">{escape(text)}</span>'


class Following:
    """``start``, ``stop``, ``close`` and the threads behind them; part of ``RunDetails``."""

    run: Run
    thread: threading.Thread | None
    background: threading.Thread | None
    poll_interval: float
    max_poll_interval: float
    notice: w.HTML
    widget: w.VBox
    _feed: RunFeed
    _grid: ChartGrid
    _files: FilesPanel
    _lock: threading.RLock
    _read_lock: threading.Lock
    _stop_event: threading.Event
    _started: bool
    _waiting: bool
    _behind: bool
    _interval: float
    _load_error: str

    if TYPE_CHECKING:

        def _refresh(self, draw_limit: int | None) -> bool: ...

        def _show_run(self, final: bool, status_changed: bool = False) -> bool: ...

        def _show_end(self) -> None: ...

        def _show_metrics(self, names: set[str]) -> None: ...

        def _update_titles(self) -> None: ...

    # the polling thread -----------------------------------------------------------------------
    @property
    def is_watching(self) -> bool:
        """True while the polling thread runs."""
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        """Start the polling thread (no-op when it runs already or the run has ended; then
        it draws the open charts still missing in the background)."""
        with self._lock:
            self._started = True
            if self._feed.ended:
                self._draw_in_background()
                return
            if self.is_watching:
                return
            self._stop_event.clear()
            self.notice.value = ""
            self.thread = threading.Thread(
                target=self._watch, name=f"RunDetails {self.run.id}", daemon=True
            )
            self.thread.start()

    def stop(self) -> None:
        """Stop following the run (it stops by itself when the run ends); :meth:`start` resumes."""
        self._stop_event.set()
        for thread in (self.thread, self.background):
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout=10)
        if not self._feed.ended:
            self.notice.value = note("Stopped following the run; start() resumes.")

    def close(self) -> None:
        """Stop following the run, stop a TensorBoard started here, close every widget."""
        self.stop()
        self._files.stop_tensorboard()
        for child in self._all_widgets():
            child.close()

    def _all_widgets(self) -> list[w.Widget]:
        found: list[w.Widget] = []
        stack: list[w.Widget] = [self.widget]
        while stack:
            item = stack.pop()
            found.append(item)
            stack.extend(getattr(item, "children", ()))
        return found

    def _watch(self) -> None:
        last_change = time.monotonic()
        failures = 0
        while not self._stop_event.is_set():
            try:
                changed = self._refresh(draw_limit=FIRST_CHARTS)
            except Exception as exc:  # a busy or vanished workspace: say so, retry, give up
                failures += 1
                changed = False
                message = f"Could not read the run ({type(exc).__name__}: {exc})"
                if failures >= _MAX_FAILURES:
                    self.notice.value = note(f"{message}; stopped following it.")
                    return
                self.notice.value = note(f"{message}; retrying.")
            else:
                if self._feed.ended:
                    self._draw_rest()  # that was the final refresh: the charts it left
                    return
                if failures:
                    failures = 0
                    self.notice.value = ""
            now = time.monotonic()
            if changed or self._behind:
                last_change = now
            # 0.2 s while output keeps coming; a run quiet for 20 s is polled every 2 s.
            quiet = now - last_change
            self._interval = min(self.max_poll_interval, max(self.poll_interval, quiet * 0.1))
            if self._stop_event.wait(self._interval):
                return

    # a finished run, and drawing in the background ----------------------------------------------
    def _open_ended(self) -> None:
        """Show a run that has ended: all but its metrics at once; the metrics too when they
        are read within READ_WAIT_S, else from a background thread that then draws charts."""
        loaded = threading.Event()
        self._waiting = True
        self.background = threading.Thread(
            target=self._load, args=(loaded,), name=f"RunDetails read {self.run.id}", daemon=True
        )
        self.background.start()  # it reads the metric points while the rest is read here
        with self._lock:
            self._show_run(final=True)
            self._show_end()
        loaded.wait(READ_WAIT_S)
        with self._lock:
            self._waiting = False
            if not loaded.is_set():  # a big run: the status, summary and log show first
                self.notice.value = note("Reading the run's metrics…")
                return
        self.background.join()
        self.background = None
        with self._lock:
            self._behind = self._grid.draw(self._feed.series, True, 0.0, 0.0, FIRST_CHARTS)
            self._update_titles()

    def _load(self, loaded: threading.Event) -> None:
        """A finished run's metric points, read, shown, then (once shown) its charts drawn."""
        try:
            with self._read_lock:
                points = self._feed.fetch_metric_points()
                with self._lock:
                    self._show_metrics(self._feed.fold_metrics(points))
                    self._update_titles()
                    if self._waiting:  # the constructor takes it from here
                        loaded.set()
                        return
                    self._show_end()
                    if not self._started:
                        return  # start() (show) draws them
        except Exception as exc:  # e.g. a vanished workspace: say so
            with self._lock:
                self._load_error = f" Could not read its metrics ({type(exc).__name__}: {exc})."
                self._show_end()
                loaded.set()
            return
        self._draw_rest()

    def _draw_in_background(self) -> None:
        """Draw open charts still missing from a thread (the poller draws a live run's)."""
        with self._lock:
            running = self.background is not None and self.background.is_alive()
            if not self._started or not self._feed.ended or running or self.is_watching:
                return
            if not self._grid.pending():
                return
            self._stop_event.clear()
            self.background = threading.Thread(
                target=self._draw_rest, name=f"RunDetails charts {self.run.id}", daemon=True
            )
            self.background.start()

    def _draw_rest(self) -> None:
        """Draw the stale open charts one at a time, the lock taken for each only, so the
        notebook's clicks and the kernel's own work go on between them."""
        while not self._stop_event.is_set():
            with self._lock:
                if not self._grid.draw(self._feed.series, True, 0.0, 0.0, limit=1):
                    self._behind = False
                    return
            time.sleep(0.001)  # hand the GIL to the kernel between charts

"""What a run has shown so far, read incrementally: the model behind ``RunDetails``.

No widgets here. Each ``read_*`` method asks the run only for what is new since the last call
(the driver log from a byte offset, kept by :mod:`.log_tail`; metrics from a cursor) and says
whether anything changed, so a poller can call them several times a second on a run that logs
millions of values.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from ...status import RunStatus
from .charts import MetricSeries
from .log_tail import FIRST_READ_BYTES as FIRST_READ_BYTES  # where it was first
from .log_tail import LogTail

if TYPE_CHECKING:
    from ...store.metric_columns import MetricColumns
    from ...tracking.run import Run


def parse_utc(text: str | None) -> float | None:
    """A ``get_details()`` time (``2024-01-01T00:00:00.000000Z``) as seconds since the epoch."""
    if not text:
        return None
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


def parse_arguments(arguments: list[Any]) -> dict[str, str]:
    """A script's arguments as hyperparameters: ``--lr 0.1`` and ``--lr=0.1`` -> ``lr: 0.1``,
    a lone ``--verbose`` -> ``verbose: true``, anything else ``argument N`` (from 1)."""
    words = [str(a) for a in arguments]
    found: dict[str, str] = {}

    def is_option(word: str) -> bool:
        return word.startswith("-") and len(word) > 1 and not _is_number(word)

    index, position = 0, 0
    while index < len(words):
        word = words[index]
        index += 1
        if is_option(word) and word != "--":
            key, sep, value = word.lstrip("-").partition("=")
            if not sep:
                if index < len(words) and not is_option(words[index]):
                    value = words[index]
                    index += 1
                else:
                    value = "true"
            found[key] = value
        elif word != "--":
            position += 1
            found[f"argument {position}"] = word
    return found


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


class TableMetric:
    """A table logged with ``log_row`` (rows add up) or ``log_table`` & co. (replaced)."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {}
        self.rows = 0
        #: A logged value that is not a dict of equal-length columns (shown as JSON).
        self.other: Any = None
        self.version = 0

    def add_row(self, row: dict[str, Any]) -> None:
        """Append a ``log_row`` row; a column first seen now is empty in earlier rows."""
        for column in row:
            if column not in self.columns:
                self.columns[column] = [None] * self.rows
        for column, cells in self.columns.items():
            cells.append(row.get(column))
        self.rows += 1
        self.version += 1

    def replace(self, value: Any) -> None:
        """Make the table ``value`` (a dict of column lists, or anything JSON for ``other``)."""
        if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
            lengths = {len(v) for v in value.values()}
            if len(lengths) == 1:
                self.columns, self.rows, self.other = dict(value), lengths.pop(), None
                self.version += 1
                return
        self.columns, self.rows, self.other = {}, 0, value
        self.version += 1

    def data(self) -> Any:
        """The table as plain data: ``{column: [cells]}`` or the logged value."""
        return {k: list(v) for k, v in self.columns.items()} if self.other is None else self.other


class ChildWatch:
    """A child run and the last value of each of its scalar metrics, read by cursor."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.cursor: str | None = None
        self.metrics: dict[str, Any] = {}
        #: True once the child had ended when its metrics were last read: nothing more comes.
        self.done = False

    def read_metrics(self, ended: bool) -> bool:
        """Fold in new metric points; True when a last value changed."""
        if self.done:
            return False
        points, self.cursor = self.run.get_metric_points(self.cursor)
        self.done = ended
        for point in points:
            if point["kind"] == "scalar":
                self.metrics[point["name"]] = point["value"]
        return bool(points)


class RunFeed:
    """A run's status, details, log tail, metrics, children and files, kept up to date by
    the ``read_*`` methods (each returns whether something changed)."""

    def __init__(self, run: Run, log_lines: int = 500) -> None:
        self.run = run
        self.status: str | None = None
        self.details: dict[str, Any] = {}
        self.log = LogTail(run, log_lines)
        self.metric_cursor: str | None = None
        self.series: dict[str, MetricSeries] = {}
        self.tables: dict[str, TableMetric] = {}
        #: Image metric name -> its run file name, and a version per name.
        self.images: dict[str, str] = {}
        self.image_versions: dict[str, int] = {}
        self.children: list[dict[str, Any]] = []
        self._child_watches: dict[str, ChildWatch] = {}
        self.files: list[tuple[str, int | None]] = []

    # status and details -----------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        """True once the run is Completed, Failed or Canceled."""
        return self.status in RunStatus.TERMINAL

    def read_status(self) -> bool:
        """Read the status (one indexed query)."""
        status = self.run.get_status()
        changed, self.status = status != self.status, status
        return changed

    def read_details(self) -> bool:
        """Read ``get_details()``: target, times, definition, tags, error."""
        details = self.run.get_details()
        changed, self.details = details != self.details, details
        return changed

    @property
    def started(self) -> float | None:
        """When the run started (seconds since the epoch), None before it starts."""
        return parse_utc(self.details.get("startTimeUtc"))

    @property
    def finished(self) -> float | None:
        """When the run ended, None while it is active."""
        return parse_utc(self.details.get("endTimeUtc"))

    def duration(self, now: float) -> float | None:
        """Seconds the run has been going (until it ended), None before it starts."""
        started = self.started
        if started is None:
            return None
        return max(0.0, (self.finished or now) - started)

    @property
    def error(self) -> dict[str, Any] | None:
        """A failed (or canceled) run's error: message, code, exit code; None otherwise."""
        error = self.details.get("error", {}).get("error")
        exit_code = self.details.get("exitCode")
        if self.status not in (RunStatus.FAILED, RunStatus.CANCELED):
            return None
        if not error and self.status == RunStatus.CANCELED:
            error = {"message": "The run was canceled.", "code": "Canceled"}
        error = dict(error or {"message": f"The run ended {self.status}.", "code": "Unknown"})
        error["exit_code"] = exit_code
        return error

    # driver log -------------------------------------------------------------------------------
    def read_log(self) -> bool:
        """Read new driver log text (see :meth:`LogTail.read`)."""
        return self.log.read()

    @property
    def log_text(self) -> str:
        """The log tail as text (the last ``log_lines`` lines, and a line being written)."""
        return self.log.text

    @property
    def log_truncated(self) -> bool:
        """True once earlier lines of the log are no longer in the tail."""
        return self.log.truncated

    def log_tail(self, lines: int) -> str:
        """The last ``lines`` lines of the log tail."""
        return "\n".join(self.log_text.splitlines()[-lines:])

    # metrics ----------------------------------------------------------------------------------
    def read_metrics(self) -> set[str]:
        """Fold in new metric points; returns the names that changed (of every kind)."""
        return self.fold_metrics(self.fetch_metric_points())

    def fetch_metric_points(self) -> list[dict[str, Any]] | MetricColumns:
        """The metric points logged since the last fetch (moves the cursor; no folding, so a
        caller can fetch without holding the view's lock: seconds at a million points).

        An ended run's first fetch takes its metrics as columns from what ending it indexed
        (100,000 points: ~40 ms, not ~400), where the store has them."""
        if self.metric_cursor is None and self.ended:
            columns = self.run.workspace.store.metric_columns(self.run.id)
            if columns is not None:
                self.metric_cursor = columns.cursor
                return columns
        points, self.metric_cursor = self.run.get_metric_points(self.metric_cursor)
        return points

    def fold_metrics(self, points: list[dict[str, Any]] | MetricColumns) -> set[str]:
        """Fold fetched points into the series and tables; the names that changed."""
        if not isinstance(points, list):
            return self._fold_columns(points)
        changed: set[str] = set()
        scalars: dict[str, list[dict[str, Any]]] = {}
        for point in points:
            kind, name = point["kind"], point["name"]
            if kind == "scalar":  # by far the most: grouped, then appended per series in bulk
                bucket = scalars.get(name)
                if bucket is None:
                    bucket = scalars[name] = []
                bucket.append(point)
                continue
            changed.add(name)
            self._fold_other(kind, name, point["value"], point["time"])
        for name, bucket in scalars.items():
            entry = self.series.get(name)
            if entry is None:
                entry = self.series[name] = MetricSeries(name)
            values = [p["value"] for p in bucket]
            entry.extend(values, [p["step"] for p in bucket], bucket[-1]["time"])
            changed.add(name)
        return changed

    def _fold_columns(self, columns: MetricColumns) -> set[str]:
        """:meth:`fold_metrics` of an ended run's columns (the same series and tables)."""
        for kind, name, value, _, at in columns.others:
            self._fold_other(kind, name, value, at)
        for name, (steps, values, seconds) in columns.scalars.items():
            entry = self.series.get(name)
            if entry is None:
                entry = self.series[name] = MetricSeries(name)
            entry.extend(values, steps, seconds[-1])
        return {name for _, name, *_ in columns.others} | set(columns.scalars)

    def _fold_other(self, kind: str, name: str, value: Any, at: float) -> None:
        """Fold one logged list, row, table or image."""
        if kind == "list":
            entry = self.series.get(name)
            if entry is None:
                entry = self.series[name] = MetricSeries(name, kind="list")
            entry.replace(value, at)
            # A one-column table, as the sidebar's run panel shows a list.
            items = list(value) if isinstance(value, (list, tuple)) else [value]
            self.tables.setdefault(name, TableMetric()).replace({name: items})
        elif kind == "row":
            self.tables.setdefault(name, TableMetric()).add_row(
                value if isinstance(value, dict) else {"value": value}
            )
        elif kind == "table":
            self.tables.setdefault(name, TableMetric()).replace(value)
        elif kind == "image":
            self.images[name] = str(value)
            self.image_versions[name] = self.image_versions.get(name, 0) + 1

    def chartable(self) -> list[str]:
        """Names of the metrics to chart (scalars with 2+ numbers), in first-logged order."""
        return [name for name, s in self.series.items() if s.is_series]

    def summary(self) -> dict[str, dict[str, Any]]:
        """The run at a glance, name -> value: its arguments, each metric logged once (or
        only as text: not a series; lists are tables) with its last value, and its tags."""
        definition = self.details.get("runDefinition") or {}
        return {
            "arguments": parse_arguments(definition.get("arguments") or []),
            "metrics": {
                name: s.last
                for name, s in self.series.items()
                if s.kind == "scalar" and not s.is_series
            },
            "tags": dict(self.details.get("tags") or {}),
        }

    # children ---------------------------------------------------------------------------------
    def read_children(self) -> bool:
        """Read the child runs (one query for all) and their new metric points."""
        from ...tracking.run import Run

        # One query for every child: run.get_children() would look each one up again.
        rows = self.run.workspace.store.list_runs(parent_id=self.run.id, descending=False)
        children = []
        changed = False
        for row in rows:
            watch = self._child_watches.get(row.id)
            if watch is None:
                watch = self._child_watches[row.id] = ChildWatch(Run._of(self.run.experiment, row))
            ended = row.status in RunStatus.TERMINAL
            changed |= watch.read_metrics(ended)
            started, finished = row.started_utc, row.ended_utc
            children.append(
                {
                    "run_id": row.id,
                    "display_name": row.display_name or row.id,
                    "status": row.status,
                    "started": started,
                    "ended": finished,
                    "metrics": dict(watch.metrics),
                }
            )
        if children != self.children:
            changed = True
        self.children = children
        return changed

    # files ------------------------------------------------------------------------------------
    def read_files(self) -> bool:
        """Read the run's file names, with sizes where known (stored files)."""
        names = self.run.get_file_names()
        sizes = {r.name: r.size for r in self.run.workspace.store.list_files(self.run.id)}
        files = [(name, sizes.get(name)) for name in names]
        changed, self.files = files != self.files, files
        return changed

    # everything, as plain data ----------------------------------------------------------------
    def metric_data(self) -> dict[str, dict[str, Any]]:
        """Each metric series: kind, count, last value and step, whether x is the step."""
        return {
            name: {
                "kind": s.kind,
                "count": s.count,
                "last": s.last,
                "last_step": s.last_step,
                "x": "step" if s.stepped else "index",
                "numeric": s.numeric,
            }
            for name, s in self.series.items()
        }

    def values(self) -> dict[str, Any]:
        """The last value of every scalar or list metric (numbers or not)."""
        return {name: s.last for name, s in self.series.items()}

    def as_data(self) -> dict[str, Any]:
        """Everything read so far as plain data (``RunDetails.get_widget_data``)."""
        details = self.details
        definition = details.get("runDefinition") or {}
        return {
            "run_id": self.run.id,
            "display_name": details.get("displayName"),
            "experiment": details.get("experiment"),
            "status": self.status,
            "target": details.get("target"),
            "start_time_utc": details.get("startTimeUtc"),
            "end_time_utc": details.get("endTimeUtc"),
            "duration_seconds": self.duration(time.time()),
            "script": definition.get("script"),
            "arguments": list(definition.get("arguments") or []),
            "tags": dict(details.get("tags") or {}),
            "log": self.log_text,
            "metrics": self.metric_data(),
            "summary": self.summary(),
            "tables": {name: t.data() for name, t in self.tables.items()},
            "images": dict(self.images),
            "children": [dict(c) for c in self.children],
            "files": [{"name": n, "size": size} for n, size in self.files],
            "error": self.error,
        }

"""Metric methods of :class:`aml_jupyter.Run` (v1 names): logging and reading back.

Writing goes to an append-only file per process (see :mod:`aml_jupyter.store.metrics`), so a
call costs a couple of microseconds and survives the script being killed.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..store.metrics import IMAGE, KIND_NAMES, LIST, ROW, TABLE
from .run_files import RunFiles

if TYPE_CHECKING:
    from ..store.metric_writer import MetricWriter

#: Image formats by their first bytes: what a browser shows in an <img>.
_IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
    b"BM": "bmp",
}


def image_kind(path: str | os.PathLike[str]) -> str:
    """The image format of the file at ``path`` (png, jpg, gif, bmp, webp or svg), or a clear
    :class:`AmlError` for a file that is not an image."""
    try:
        with open(path, "rb") as f:
            head = f.read(512)
    except OSError as exc:
        raise AmlError(f"log_image: cannot read {os.fspath(path)!r}: {exc}") from exc
    for magic, kind in _IMAGE_MAGIC.items():
        if head.startswith(magic):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if b"<svg" in head.lower():
        return "svg"
    raise AmlError(
        f"log_image: {os.fspath(path)!r} is not an image (PNG, JPEG, GIF, BMP, WebP or SVG); "
        "save the figure first, e.g. plt.savefig('plot.png'), or pass plot=figure."
    )


def _microseconds(name: str, timestamp: Any) -> int:
    if isinstance(timestamp, bool) or not isinstance(timestamp, (int, float)):
        raise AmlError(
            f"Metric {name!r}: timestamp must be seconds since 1970 (a number), got {timestamp!r}."
        )
    if not 0 <= timestamp < 9.2e12:  # NaN fails too
        raise AmlError(f"Metric {name!r}: timestamp {timestamp!r} is not a time after 1970.")
    return round(timestamp * 1_000_000)


class RunMetrics(RunFiles):
    """``log``, ``log_list``, ``log_row``, ``log_table``, ``log_image``, ``get_metrics``, ..."""

    _writer: MetricWriter | None = None
    #: True for an offline run: each log call is also printed, as v1's offline run did.
    _echo = False

    if TYPE_CHECKING:

        @property
        def id(self) -> str: ...

        def get_children(
            self,
            recursive: bool = False,
            tags: Any = None,
            properties: dict[str, str] | None = None,
            type: str | None = None,
            status: str | None = None,
            _rehydrate_runs: bool = True,
        ) -> Iterator[Any]: ...

    def _metrics(self) -> MetricWriter:
        if self._writer is None:
            self._writer = self._ws.store.metric_writer(self.id)
        return self._writer

    def _say(self, text: str) -> None:
        if self._echo:
            print(text)

    def log(
        self,
        name: str,
        value: Any,
        description: str = "",
        step: int | None = None,
        *,
        timestamp: float | None = None,
    ) -> None:
        """Log a value (number, string, bool) under ``name``; repeated calls make a series.

        ``timestamp``: when it was measured, in seconds since 1970 (default: now).
        """
        writer = self._writer or self._metrics()
        if timestamp is None:
            writer.scalar(name, value, step)
        else:
            writer.scalar(name, value, step, _microseconds(name, timestamp))
        if self._echo:
            self._say(f"Attempted to log scalar metric {name}:\n{value}")

    def log_list(self, name: str, value: Iterable[Any], description: str = "") -> None:
        """Log a list of values under ``name``."""
        self._metrics().record(LIST, name, list(value))
        self._say(f"Attempted to log list metric {name}:\n{value}")

    def log_row(self, name: str, description: str | None = None, **kwargs: Any) -> None:
        """Add a row (columns as keyword arguments) to the table ``name``."""
        self._metrics().record(ROW, name, kwargs)
        self._say(f"Attempted to log row metric {name}:\n{kwargs}")

    def log_table(self, name: str, value: dict[str, list[Any]], description: str = "") -> None:
        """Log a table given as a dict of column lists."""
        if not isinstance(value, dict):
            raise AmlError(
                f"log_table({name!r}) takes a dict of column lists, got {type(value).__name__}."
            )
        self._metrics().record(TABLE, name, value)
        self._say(f"Attempted to log table metric {name}:\n{value}")

    def _log_json(self, name: str, value: Any) -> None:
        self._metrics().record(TABLE, name, json.loads(value) if isinstance(value, str) else value)

    log_accuracy_table = log_confusion_matrix = log_predictions = log_residuals = (
        lambda self, name, value, description="": self._log_json(name, value)
    )

    def log_image(
        self,
        name: str,
        path: str | os.PathLike[str] | None = None,
        plot: Any = None,
        description: str = "",
    ) -> None:
        """Log an image from a file ``path`` or a matplotlib figure/pyplot ``plot``."""
        if (path is None) == (plot is None):
            raise AmlError("log_image takes exactly one of path= or plot=.")
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
        if plot is not None:
            buffer = io.BytesIO()
            figure = plot.gcf() if hasattr(plot, "gcf") else plot
            figure.savefig(buffer, format="png")
            buffer.seek(0)
            file_name = f"images/{safe}.png"
            self.upload_file(file_name, buffer)
        else:
            kind = image_kind(path)  # type: ignore[arg-type]
            file_name = f"images/{safe}.{kind}"
            self.upload_file(file_name, path)  # type: ignore[arg-type]
        self._metrics().record(IMAGE, name, file_name)
        self._say(f"Attempted to log image metric {name}:\n{file_name}")

    def get_metrics(
        self,
        name: str | None = None,
        recursive: bool = False,
        run_type: str | None = None,
        populate: bool = False,
    ) -> dict[str, Any]:
        """Logged metrics: ``{name: value}``, a list for a series, columns for tables.

        ``recursive=True`` returns ``{run_id: {...}}`` for this run and all its descendants.
        """
        if recursive:
            runs = [self, *self.get_children(recursive=True, type=run_type)]
            return {r.id: r.get_metrics(name) for r in runs}
        return self._ws.store.read_metrics(self.id, name)

    def get_metric_history(self, name: str) -> list[dict[str, Any]]:
        """Every logged value of one scalar metric with its step and time, oldest first."""
        return self._ws.store.metric_history(self.id, name)

    def get_metric_points(self, cursor: str | None = None) -> tuple[list[dict[str, Any]], str]:
        """Metric values logged since ``cursor`` (None: all), oldest first, and the next cursor.

        Each point is ``{"kind", "name", "value", "step", "time"}`` (kind: ``scalar``,
        ``list``, ``row``, ``table`` or ``image``). Poll with the returned cursor to get only
        what is new: this is what live views (widgets, the sidebar) read.
        """
        points, next_cursor = self._ws.store.metric_points(self.id, cursor)
        return [
            {"kind": KIND_NAMES[k], "name": n, "value": v, "step": s, "time": t / 1e6}
            for k, n, v, s, t in points
        ], next_cursor

    def flush(self, timeout_seconds: int = 300) -> None:
        """Nothing is buffered (every log call is already written); kept for v1 scripts."""

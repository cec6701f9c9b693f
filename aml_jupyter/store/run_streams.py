"""The embedded store's run streams: a run's logs, metrics and live files, read from its live
folder (:mod:`.run_folder`) under ``runs/`` in the workspace."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import AmlError
from ..paths import checked_relative_name, utf8_name
from .embedded_base import EmbeddedBase
from .metric_writer import MetricWriter
from .metrics import latest_values, read_new_points, summarize_files
from .run_folder import DRIVER_LOG, TRACKED_FOLDERS, USER_LOGS, RunFolder

if TYPE_CHECKING:
    from .metric_columns import MetricColumns
    from .metrics import Point

log = logging.getLogger(__name__)
#: Metric files up to this size are read whole to summarize a dead run; beyond, their tails.
_SUMMARY_READ_BYTES = 16 << 20


class RunStreams(EmbeddedBase):
    """``run_folder``, ``read_log``, ``metric_points``, ``live_files`` ... of the embedded store."""

    def run_folder(self, run_id: str) -> RunFolder:
        return RunFolder(self.runs_root / run_id)

    # logs -------------------------------------------------------------------------------------
    def _log_path(self, run_id: str, name: str | None) -> Path:
        if name is None:
            return self.runs_root / run_id / DRIVER_LOG
        clean = checked_relative_name(name, "log name")
        if not clean.startswith(USER_LOGS + "/"):
            raise AmlError(f"{name!r} is not a log: logs are the run's {USER_LOGS}/ files.")
        return self.runs_root / run_id / clean

    def read_log(
        self, run_id: str, offset: int = 0, max_bytes: int | None = None, name: str | None = None
    ) -> bytes:
        try:
            with open(self._log_path(run_id, name), "rb") as f:
                f.seek(offset)
                return f.read(-1 if max_bytes is None else max_bytes)
        except FileNotFoundError:
            return b""

    def log_size(self, run_id: str, name: str | None = None) -> int | None:
        try:
            return os.path.getsize(self._log_path(run_id, name))
        except OSError:
            return None

    # metrics ----------------------------------------------------------------------------------
    def metric_writer(self, run_id: str) -> MetricWriter:
        return MetricWriter(self.runs_root / run_id / "metrics")

    def read_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        from .metric_index import read_metrics  # the index of an ended run, else the files

        return read_metrics(self.run_folder(run_id).metrics, name)

    def metric_history(self, run_id: str, name: str) -> list[dict[str, Any]]:
        from .metric_index import read_history

        return read_history(self.run_folder(run_id).metrics, name)

    def metric_points(self, run_id: str, cursor: str | None = None) -> tuple[list[Point], str]:
        return read_new_points(self.run_folder(run_id).metrics, cursor)

    def metric_columns(self, run_id: str, name: str | None = None) -> MetricColumns | None:
        from .metric_columns import read_columns

        return read_columns(self.run_folder(run_id).metrics, name)

    def live_metric_values(self, run_id: str) -> dict[str, Any]:
        return latest_values(self.run_folder(run_id).metrics)

    def summarize_metrics(self, run_id: str, *, final: bool) -> None:
        folder = self.run_folder(run_id).metrics
        if final:
            # Imported here: a run's own processes never index, and it costs ~10 ms to import.
            from .metric_index import build_index

            try:
                summary = build_index(folder)
            except OSError:  # no room for the index (a full disk): the summary alone, bounded
                log.exception("could not index the metrics of run %s", run_id)
                summary = summarize_files(folder)
        else:
            summary = _bounded_summary(folder)
        self.save_metric_summary(run_id, summary)

    # files ------------------------------------------------------------------------------------
    def _live_paths(self, run_id: str) -> dict[str, Path]:
        folder = self.run_folder(run_id)
        live: dict[str, Path] = {}
        roots = [(folder.root, USER_LOGS)] + [(folder.work, s) for s in TRACKED_FOLDERS]
        for root, sub in roots:
            if (root / sub).is_symlink():  # a tracked folder that is itself a link
                continue
            for dirpath, _, filenames in os.walk(root / sub):  # never enters a linked folder
                for f in filenames:
                    full = Path(dirpath) / f
                    if not full.is_symlink():  # outputs/passwd -> /etc/passwd is not served
                        live[utf8_name(full.relative_to(root).as_posix())] = full
        return live

    def live_files(self, run_id: str) -> dict[str, int]:
        sizes = {}
        for name, path in self._live_paths(run_id).items():
            try:
                sizes[name] = path.stat().st_size
            except FileNotFoundError:  # deleted by the script since the folder was walked
                continue
        return sizes

    def _live_path(self, run_id: str, name: str) -> Path | None:
        """The path of the live file ``live_files`` lists as ``name``, without walking the
        folders (a download of every file of a live run would walk them once a file)."""
        folder = self.run_folder(run_id)
        top = name.split("/", 1)[0]
        root = folder.root if top == USER_LOGS else folder.work if top in TRACKED_FOLDERS else None
        if root is None or top == name:  # files lie in those folders, never are one
            return None
        path = root / name
        if path.is_file() and not any(
            (root / part).is_symlink() for part in _prefixes(name)
        ):  # as the walk: never through a link, never a link itself
            return path
        return self._live_paths(run_id).get(name)  # a name not as stored (not UTF-8 on disk)

    def open_live_file(self, run_id: str, name: str) -> BinaryIO:
        path = self._live_path(run_id, checked_relative_name(name, "run file name"))
        if path is None:
            raise AmlError(
                f"Run {run_id} has no file {name!r}. run.get_file_names() lists its files."
            )
        try:
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as exc:
            raise AmlError(f"Run {run_id}: {name!r} cannot be read ({exc}).") from exc
        real = Path(os.path.realpath(f"/proc/self/fd/{fd}" if os.path.isdir("/proc") else path))
        if not real.is_relative_to(Path(os.path.realpath(self.run_folder(run_id).root))):
            os.close(fd)  # a folder on its path was swapped for a link since it was listed
            raise AmlError(f"Run {run_id}: {name!r} lies outside the run; not served.")
        return os.fdopen(fd, "rb")


def _prefixes(name: str) -> list[str]:
    """``a``, ``a/b``, ``a/b/c`` of ``a/b/c``."""
    parts = name.split("/")
    return ["/".join(parts[: i + 1]) for i in range(len(parts))]


def _bounded_summary(folder: Path) -> dict[str, tuple[Any, int]]:
    """The metric summary of a run, in bounded time: whole files when small, else their tails
    (a metric last logged before the tail is then missing, and counts are unknown: 0)."""
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl")) if folder.is_dir() else 0
    if size <= _SUMMARY_READ_BYTES:
        return summarize_files(folder)
    return {name: (value, 0) for name, value in latest_values(folder, 1 << 20).items()}

"""Helpers shared by the benchmark scripts: statistics, tables, machine notes, temp folders.

Not a benchmark itself. Each ``bench_*.py`` imports it from its own folder, so every script
still runs standalone: ``.venv/bin/python benchmarks/bench_x.py``.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

#: Environment variables that would make a benchmark's runs land in someone else's workspace.
_LEAKY_VARS = ("AML_WORKSPACE", "AML_RUN_ID", "AML_EXPERIMENT_NAME", "AZUREML_RUN_ID")


def clean_environment() -> None:
    """Drop variables that point aml_jupyter (or MLflow) at a real workspace or server."""
    for var in (
        *_LEAKY_VARS,
        "MLFLOW_TRACKING_URI",
        "MLFLOW_EXPERIMENT_NAME",
        "MLFLOW_EXPERIMENT_ID",
    ):
        os.environ.pop(var, None)


@contextlib.contextmanager
def temp_folder(prefix: str) -> Iterator[Path]:
    """A fresh temp folder, deleted afterwards (even on error or Ctrl-C)."""
    folder = Path(tempfile.mkdtemp(prefix=f"aml-bench-{prefix}-")).resolve()
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def chdir(folder: Path) -> Iterator[None]:
    """Work in ``folder`` for a while (contextlib.chdir is Python 3.11+)."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear between the closest ranks."""
    data = sorted(values)
    if not data:
        return float("nan")
    k = (len(data) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def median(values: Sequence[float]) -> float:
    """The median (nan for no values)."""
    return statistics.median(values) if values else float("nan")


def fmt_us(seconds: float) -> str:
    """Seconds as microseconds, 2-3 significant figures."""
    us = seconds * 1e6
    return f"{us:.2f} µs" if us < 10 else f"{us:.1f} µs" if us < 100 else f"{us:,.0f} µs"


def fmt_ms(seconds: float) -> str:
    """Seconds as milliseconds."""
    ms = seconds * 1e3
    return f"{ms:.2f} ms" if ms < 10 else f"{ms:.1f} ms" if ms < 1000 else f"{ms:,.0f} ms"


def fmt_s(seconds: float) -> str:
    """Seconds, 3 decimals."""
    return f"{seconds:.3f} s"


def verdict(value: float, goal: float) -> str:
    """'yes' when ``value`` is within ``goal`` (a printed note, never an assert)."""
    return "yes" if value <= goal else "NO"


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A plain-text table that reads well in a terminal and in a pasted report."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def line(row: Sequence[str]) -> str:
        return "| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    print(f"\n{title}")
    print(line(cells[0]))
    print(rule)
    for row in cells[1:]:
        print(line(row))
    print(flush=True)


def machine_notes() -> str:
    """One line about the machine: CPUs, model, Python, SQLite, OS."""
    import sqlite3

    model = platform.processor() or ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    cpus = os.cpu_count()
    with contextlib.suppress(AttributeError):
        cpus = len(os.sched_getaffinity(0))
    return (
        f"machine: {cpus} CPU(s) ({model or 'unknown CPU'}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, {platform.system()} {platform.release()}"
    )


def have_mlflow() -> bool:
    """True when MLflow is importable; otherwise says how to get it (the comparison is skipped)."""
    import importlib.util

    if importlib.util.find_spec("mlflow") is not None:
        return True
    print(
        "note: MLflow is not installed, so its side of the table is left out. Install it with "
        "`.venv/bin/uv pip install --python .venv/bin/python -e '.[bench]'` (`make bench` does)."
    )
    return False


def header(name: str, what: str) -> None:
    """The first lines every benchmark prints."""
    print(f"== {name}: {what}")
    print(machine_notes())
    if os.environ.get("PYTHONDONTWRITEBYTECODE"):
        print("note: PYTHONDONTWRITEBYTECODE is set in this environment.")
    sys.stdout.flush()

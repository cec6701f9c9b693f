"""Run the demo notebooks headless in the "Python 3 (aml)" kernel and summarize their runs.

    python demo-notebooks/run_demos.py                       # every demo-notebooks/*.ipynb
    python demo-notebooks/run_demos.py 02-train-a-folder.ipynb
    python demo-notebooks/run_demos.py --keep                # keep the executed copies

Each notebook runs in its own temporary copy of the demo folder, so its workspace (``.aml``)
and downloads never land in the repository. The aml kernelspec is installed into a temporary
prefix that Jupyter is pointed at (``JUPYTER_PATH``), as the tests do. At the end a table
lists the runs each notebook made: experiment, run id, status and main metrics.

Exit status: 0 when every notebook ran without a cell error, 1 otherwise (2 for bad usage).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
#: Not copied into a notebook's temporary folder: what earlier runs in the repo left behind.
LEFTOVERS = (
    ".aml", ".ipynb_checkpoints", "__pycache__", "*.joblib", "*-snapshot", "iris_csv", "scored_copy"
)  # fmt: skip
#: Environment variables that would point a notebook at another workspace or run.
CLEARED_ENV = ("AML_WORKSPACE", "AML_RUN_ID", "AML_EXPERIMENT_NAME", "AZUREML_RUN_ID")
#: How many metrics a summary row shows (the first ones logged, by name order).
MAX_METRICS = 4


@dataclass
class Result:
    """How one notebook went, and the runs its workspace holds afterwards."""

    notebook: str
    seconds: float = 0.0
    error: str | None = None
    runs: list[dict[str, Any]] = field(default_factory=list)


def install_kernel(prefix: Path) -> str:
    """Install the aml kernelspec under ``prefix`` and make Jupyter look there first."""
    from aml_jupyter.frontends.kernelspec import KERNEL_NAME, install

    install(prefix=str(prefix))
    path = str(prefix / "share" / "jupyter")
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = path + (os.pathsep + old if old else "")
    return KERNEL_NAME


def _first_error_line(exc: BaseException) -> str:
    """The most telling line of a failure: a cell error's ``ename: evalue``, else the last
    line of the message."""
    ename = getattr(exc, "ename", None)
    if ename:
        return f"{ename}: {getattr(exc, 'evalue', '')}".splitlines()[0]
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _metrics(row: dict[str, Any]) -> str:
    """``name=value`` for the first few numeric metrics of a run row."""
    parts = []
    for key, value in sorted(row.items()):
        if not key.startswith("metric.") or isinstance(value, bool):
            continue
        if isinstance(value, float):
            parts.append(f"{key[7:]}={value:.4g}")
        elif isinstance(value, int):
            parts.append(f"{key[7:]}={value}")
    more = len(parts) - MAX_METRICS
    return ", ".join(parts[:MAX_METRICS]) + (f", +{more} more" if more > 0 else "")


def collect_runs(folder: Path) -> list[dict[str, Any]]:
    """The runs of the workspace a notebook made in ``folder``, oldest first.

    A run still going (a notebook that did not wait) is canceled, so nothing outlives us.
    """
    from aml_jupyter import RunStatus, Workspace
    from aml_jupyter.tracking.query import list_runs

    if not (folder / ".aml" / "aml.db").exists():
        return []
    ws = Workspace(folder)
    for row in ws.store.list_runs(status=RunStatus.ACTIVE, limit=None, include_children=True):
        run = ws.get_run(row.id)
        run.cancel()
        run.wait_for_completion(raise_on_error=False, timeout_seconds=30)
    return list(reversed(list_runs(ws, top=None)))


def run_notebook(path: Path, demos: Path, work_root: Path, kernel: str, timeout: int) -> Result:
    """Execute one notebook in a fresh copy of ``demos``; the executed copy stays there."""
    import nbformat
    from nbclient import NotebookClient

    result = Result(path.name)
    folder = work_root / path.stem
    shutil.copytree(demos, folder, ignore=shutil.ignore_patterns(*LEFTOVERS))
    target = folder / path.name
    nb = nbformat.read(target, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name=kernel,
        timeout=timeout,
        startup_timeout=120,
        resources={"metadata": {"path": str(folder)}},
    )
    started = time.monotonic()
    try:
        client.execute()
    except Exception as exc:  # a cell error, a timeout, a kernel that died
        result.error = _first_error_line(exc)
    finally:
        result.seconds = time.monotonic() - started
        nbformat.write(nb, target)
        stop_tensorboards(folder)
    result.runs = collect_runs(folder)
    return result


def stop_tensorboards(folder: Path) -> None:
    """Stop what a demo left serving: 03-tensorboard keeps TensorBoard up for Run All (its
    page must load), and a headless run has no one to look at it."""
    from aml_jupyter.frontends.tensorboard.server import Instances, terminate

    for registry in folder.rglob("tensorboard/instances.json"):
        with Instances(registry.parent).entries() as entries:
            for entry in entries:
                terminate(entry)
            entries.clear()


def table(rows: list[list[str]]) -> str:
    """Rows as left-aligned text columns; the first row is the header."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    """The runs table, then one line per notebook."""
    rows = [["notebook", "experiment", "run id", "status", "metrics"]]
    for res in results:
        for run in res.runs:
            rows.append(
                [res.notebook, run["experiment"], run["run_id"], run["status"], _metrics(run)]
            )
        if not res.runs:
            rows.append([res.notebook, "-", "(none)", "-", ""])
    lines = [table(rows), ""]
    for res in results:
        state = "ok" if res.error is None else f"FAILED: {res.error}"
        lines.append(f"{res.notebook}: {state} ({res.seconds:.1f} s)")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line entry point; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", metavar="NOTEBOOK", help="notebooks to run (default: all)"
    )
    parser.add_argument(
        "--demos",
        type=Path,
        default=HERE,
        metavar="DIR",
        help="folder of the notebooks and the files they use (default: this script's folder)",
    )
    parser.add_argument(
        "--timeout", type=int, default=300, metavar="S", help="seconds per cell (default 300)"
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the executed copies and print where they are"
    )
    args = parser.parse_args(argv)
    demos = args.demos.resolve()
    if args.notebooks:
        paths = [demos / Path(name).name for name in args.notebooks]
        missing = [p.name for p in paths if not p.is_file()]
        if missing:
            parser.error(f"no such notebook in {demos}: {', '.join(missing)}")
    else:
        paths = sorted(demos.glob("*.ipynb"))
        if not paths:
            parser.error(f"no notebooks in {demos}")
    for var in CLEARED_ENV:
        os.environ.pop(var, None)
    work_root = Path(tempfile.mkdtemp(prefix="aml-demos-"))
    results = []
    try:
        kernel = install_kernel(work_root / "kernel-prefix")
        for path in paths:
            print(f"running {path.name} ...", flush=True)
            results.append(run_notebook(path, demos, work_root, kernel, args.timeout))
    finally:
        if args.keep:
            print(f"executed copies kept in {work_root}")
        else:
            shutil.rmtree(work_root, ignore_errors=True)
    print()
    print(summary(results))
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

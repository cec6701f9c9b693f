"""Reading a big run's metrics back: ending the run, then ``run.get_metrics()``, old way and new.

Setup: a script logs N = 3,400,000 scalar points with ``run.log`` (the real MetricWriter) in
a run from ``start_logging``: ``loss`` and ``acc`` with steps, ``lr`` (float) and ``epoch``
(int), interleaved as a training loop does; then ``run.complete()`` ends it (finalize, timed).

Measured, each in a fresh process (the time of the call, imports done first except numpy,
which the new readers import when first used; peak RSS = the process's VmHWM: getrusage's
figure starts at the parent's peak, which exec keeps):

* finalize's metric step, before: ``summarize(read_points(folder))`` (every line parsed into
  Python lists at once); after: ``build_index(folder)`` (streamed, columns spilled to disk);
* ``get_metrics``, before: ``aggregate(read_points(folder))``; after: ``run.get_metrics()`` on
  the indexed run; and on a live run (no index yet: the files parsed, streaming);
* ``run.get_metric_history("loss")`` on the indexed run (N/4 points);
* beside them, what a user would otherwise pick: MLflow's ``MlflowClient().get_metric_history``
  on its default sqlite store, with MLFLOW_N points (logging 3.4 M into MLflow takes too long:
  the count is printed beside it). MLflow is looked for in this interpreter, or the one
  ``$AML_BENCH_MLFLOW_PYTHON`` names (a separate venv keeps it out of the dev one).

The old and new readers' results are compared (length and last value of each metric).
Goals: finalize <= 100 MB RSS whatever the run's size; ``get_metrics`` of 3.4 M points
<= 1.5 s on an ended run. Run: ``.venv/bin/python benchmarks/bench_metrics_read.py [N]``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_environment, fmt_s, header, print_table, temp_folder, verdict

N = int(sys.argv[1]) if len(sys.argv) > 1 else 3_400_000
MLFLOW_N = 100_000
MLFLOW_BATCH = 1_000
GOAL_READ_S = 1.5
GOAL_RSS_MB = 100.0

PEAK = textwrap.dedent(
    """
    def peak_mb():
        with open("/proc/self/status") as f:
            return [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:")][0]
    """
)

WRITER = PEAK + textwrap.dedent(
    """
    import json, sys, time
    from aml_jupyter import Experiment, Workspace
    ws, n = Workspace(sys.argv[1]), int(sys.argv[2])
    run = Experiment(ws, "bench").start_logging(snapshot_directory=None, outputs=None)
    log = run.log
    t0 = time.perf_counter()
    for i in range(n // 4):
        log("loss", 1.0 / (i + 1), step=i)
        log("acc", i / n, step=i)
        log("lr", 0.001 * 0.5 ** (i // 100_000))
        log("epoch", i // 10_000)
    write_s = time.perf_counter() - t0
    before = peak_mb()
    t0 = time.perf_counter()
    run.complete()
    out = {"run_id": run.id, "write_s": write_s, "complete_s": time.perf_counter() - t0}
    print(json.dumps({**out, "rss_mb": peak_mb(), "rss_before_mb": before}))
    """
)

MEASURE = PEAK + textwrap.dedent(
    """
    import json, sys, time
    from aml_jupyter import Workspace
    from aml_jupyter.store.metric_index import build_index, read_metrics
    from aml_jupyter.store.metrics import aggregate, read_points, summarize
    op, ws = sys.argv[1], Workspace(sys.argv[2])
    run = ws.get_run(sys.argv[3])
    folder = run.folder / "metrics"
    calls = {
        "old_finalize": lambda: summarize(read_points(folder)),
        "build_index": lambda: build_index(folder),
        "old_get_metrics": lambda: aggregate(read_points(folder)),
        "get_metrics": run.get_metrics,
        "live_get_metrics": lambda: read_metrics(folder),
        "history": lambda: run.get_metric_history("loss"),
    }
    t0 = time.perf_counter()
    result = calls[op]()
    elapsed = time.perf_counter() - t0
    if isinstance(result, list):
        digest = [len(result), result[-1]["value"]]
    else:
        digest = {k: [len(v), v[-1]] if isinstance(v, list) else [1, v] for k, v in result.items()}
    print(json.dumps({"s": elapsed, "rss_mb": peak_mb(), "digest": digest}))
    """
)

MLFLOW = PEAK + textwrap.dedent(
    """
    import json, logging, sys, time
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    op, uri = sys.argv[1], sys.argv[2]
    mlflow.set_tracking_uri(uri)
    client = MlflowClient()
    if op == "log":
        n, batch = int(sys.argv[3]), int(sys.argv[4])
        mlflow.set_experiment("bench")
        with mlflow.start_run() as active:
            t0, now = time.perf_counter(), int(time.time() * 1000)
            for start in range(0, n, batch):
                client.log_batch(active.info.run_id, metrics=[
                    Metric("loss", 1.0 / (i + 1), now + i, i) for i in range(start, start + batch)
                ])
            elapsed = time.perf_counter() - t0
        print(json.dumps({"run_id": active.info.run_id, "s": elapsed, "version": mlflow.__version__}))
    else:
        t0 = time.perf_counter()
        history = client.get_metric_history(sys.argv[3], "loss")
        elapsed = time.perf_counter() - t0
        print(json.dumps({"s": elapsed, "rss_mb": peak_mb(), "points": len(history)}))
    """
)


def run_json(argv: list[str], cwd: Path | None = None) -> dict:
    """Run a script in a fresh interpreter; its last stdout line, parsed."""
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=cwd)
    if proc.returncode:
        raise RuntimeError(f"{argv[2]} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def measure(op: str, project: Path, run_id: str) -> dict:
    return run_json([sys.executable, "-c", MEASURE, op, str(project), run_id])


def mlflow_python() -> str | None:
    """An interpreter that imports mlflow, or None (and a note saying how to get one)."""
    python = os.environ.get("AML_BENCH_MLFLOW_PYTHON", sys.executable)
    found = subprocess.run([python, "-c", "import mlflow"], capture_output=True).returncode == 0
    if not found:
        print(
            "note: MLflow is not installed, so its row is skipped. Install it with "
            "`.venv/bin/uv pip install --python .venv/bin/python -e '.[bench]'` (`make bench` "
            "does), or point $AML_BENCH_MLFLOW_PYTHON at a Python that has it."
        )
    return python if found else None


def bench_mlflow(python: str, folder: Path) -> dict:
    uri = "sqlite:///" + str(folder / "mlflow.db")
    logged = run_json([python, "-c", MLFLOW, "log", uri, str(MLFLOW_N), str(MLFLOW_BATCH)], folder)
    read = run_json([python, "-c", MLFLOW, "read", uri, logged["run_id"]], folder)
    return {**logged, "read_s": read["s"], "rss_mb": read["rss_mb"], "points": read["points"]}


def main() -> None:
    clean_environment()
    header("bench_metrics_read", f"ending a run of {N:,} metric points, then get_metrics")
    from aml_jupyter import Workspace

    with temp_folder("metrics-read") as tmp:
        project = tmp / "project"
        project.mkdir()
        Workspace.create(project)
        wrote = run_json([sys.executable, "-c", WRITER, str(project), str(N)])
        run_id = wrote["run_id"]
        old_fin = measure("old_finalize", project, run_id)
        new_fin = measure("build_index", project, run_id)
        old_get = measure("old_get_metrics", project, run_id)
        new_get = measure("get_metrics", project, run_id)
        hist = measure("history", project, run_id)
        index = Workspace(project).store.run_folder(run_id).root / "metric_index"
        aside = index.with_name("metric_index.aside")
        shutil.move(index, aside)  # a live run: no index yet
        live_get = measure("live_get_metrics", project, run_id)
        shutil.move(aside, index)
        python = mlflow_python()
        mlf = None
        if python:
            mlf_folder = tmp / "mlflow"
            mlf_folder.mkdir()
            mlf = bench_mlflow(python, mlf_folder)

    same = old_get["digest"] == new_get["digest"] == live_get["digest"]
    mb = "{:,.0f} MB".format
    rss_goal, read_goal = f"<= {GOAL_RSS_MB:.0f} MB", f"<= {GOAL_READ_S:g} s"
    rows = [
        [
            "finalize, before: summarize(read_points())",
            f"{N:,}",
            fmt_s(old_fin["s"]),
            mb(old_fin["rss_mb"]),
            rss_goal,
            verdict(old_fin["rss_mb"], GOAL_RSS_MB),
        ],
        [
            "finalize, after: build_index()",
            f"{N:,}",
            fmt_s(new_fin["s"]),
            mb(new_fin["rss_mb"]),
            rss_goal,
            verdict(new_fin["rss_mb"], GOAL_RSS_MB),
        ],
        [
            "run.complete() as finalize is wired now",
            f"{N:,}",
            fmt_s(wrote["complete_s"]),
            f"{mb(wrote['rss_mb'])} (writer {mb(wrote['rss_before_mb'])} before)",
            "",
            "",
        ],
        [
            "get_metrics, before: aggregate(read_points())",
            f"{N:,}",
            fmt_s(old_get["s"]),
            mb(old_get["rss_mb"]),
            read_goal,
            verdict(old_get["s"], GOAL_READ_S),
        ],
        [
            "get_metrics, after: run.get_metrics(), ended run",
            f"{N:,}",
            fmt_s(new_get["s"]),
            mb(new_get["rss_mb"]),
            read_goal,
            verdict(new_get["s"], GOAL_READ_S),
        ],
        [
            "get_metrics, live run (no index: files parsed)",
            f"{N:,}",
            fmt_s(live_get["s"]),
            mb(live_get["rss_mb"]),
            "",
            "",
        ],
        [
            "run.get_metric_history('loss'), ended run",
            f"{hist['digest'][0]:,}",
            fmt_s(hist["s"]),
            mb(hist["rss_mb"]),
            "",
            "",
        ],
    ]
    if mlf is not None:
        rows.append(
            [
                f"MLflow {mlf['version']} get_metric_history (sqlite)",
                f"{mlf['points']:,}",
                fmt_s(mlf["read_s"]),
                mb(mlf["rss_mb"]),
                "",
                f"{MLFLOW_N:,} points, not {N // 4:,}",
            ]
        )
    print_table(
        "Ending a run and reading its metrics back (fresh process each; peak RSS = VmHWM)",
        ["measure", "points", "time", "peak RSS", "goal", "meets goal"],
        rows,
    )
    print(
        f"Writing {N:,} points with run.log took {fmt_s(wrote['write_s'])}. Old and new "
        f"get_metrics results {'are the same' if same else 'DIFFER'} (length and last value of "
        "each metric)."
    )
    if mlf is not None:
        per_point = mlf["read_s"] / max(mlf["points"], 1)
        print(
            f"MLflow: {MLFLOW_N:,} points logged with log_batch ({MLFLOW_BATCH:,} a batch) in "
            f"{fmt_s(mlf['s'])}; 3.4 M were not (too slow). Its read is "
            f"{per_point * 1e6:.1f} µs a point; aml_jupyter's indexed read "
            f"{new_get['s'] / N * 1e6:.2f} µs a point (history: {hist['s'] / hist['digest'][0] * 1e6:.2f})."
        )
    print(
        f"Goals: finalize <= {GOAL_RSS_MB:.0f} MB: {mb(new_fin['rss_mb'])} "
        f"({'met' if new_fin['rss_mb'] <= GOAL_RSS_MB else 'NOT met'}); get_metrics <= "
        f"{GOAL_READ_S:g} s: {fmt_s(new_get['s'])} "
        f"({'met' if new_get['s'] <= GOAL_READ_S else 'NOT met'})."
    )


if __name__ == "__main__":
    main()

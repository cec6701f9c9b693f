"""Cost of one ``run.log(name, value)`` call, against MLflow's logging calls.

Measured, all in one go:

* aml_jupyter ``run.log`` inside a *submitted* run: a script submitted with
  ``Experiment(ws, 'bench').submit(ScriptRunConfig(dir, 'script.py'))`` times 100,000 calls
  with ``time.perf_counter`` and logs its own per-call figure, read back with
  ``run.get_metrics()``;
* aml_jupyter ``run.log`` in this process, on a run from ``experiment.start_logging()``;
* ``mlflow.log_metric`` per call on MLflow's default local store for the installed version
  (a temp ``sqlite:///mlflow.db`` for MLflow 3, a temp ``./mlruns`` folder before), fewer calls
  because each one is a database transaction;
* ``mlflow.log_metric(..., synchronous=False)`` (MLflow's async logging), flush included;
* ``MlflowClient.log_batch`` with 100,000 metrics in batches of 1,000 (cost per metric).

It also checks every logged value was kept, and times reading 100,000 values back.
Goal: <= 3 µs per ``run.log`` call. Run: ``.venv/bin/python benchmarks/bench_log.py``.
"""

from __future__ import annotations

import json
import logging
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    fmt_us,
    have_mlflow,
    header,
    median,
    print_table,
    temp_folder,
    verdict,
)

N = 100_000  # run.log calls per run
ROUNDS = 5  # runs per aml_jupyter mode; the median run is reported
MLFLOW_N = 2_000  # mlflow.log_metric calls (each is a SQL transaction: ~ms)
MLFLOW_ASYNC_N = 1_000
MLFLOW_BATCH_N = 100_000
MLFLOW_BATCH_SIZE = 1_000
GOAL_US = 3.0

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    from aml_jupyter import Run

    n = int(sys.argv[1])
    run = Run.get_context()
    run.log("warmup", 0.0)  # opens the metrics file: not part of the per-call cost
    t0 = time.perf_counter()
    for i in range(n):
        run.log("loss", i * 0.5)
    elapsed = time.perf_counter() - t0
    per_call_us = elapsed / n * 1e6
    print(json.dumps({"per_call_us": per_call_us, "calls": n, "elapsed_s": elapsed}))
    run.log("bench.per_call_us", per_call_us)
    """
)


def bench_submitted(ws, project: Path) -> dict:
    """ROUNDS submitted runs, each timing N run.log calls in its own script."""
    from aml_jupyter import Experiment, ScriptRunConfig

    (project / "script.py").write_text(SCRIPT)
    exp = Experiment(ws, "bench")
    per_call, kept, read_s = [], [], []
    for _ in range(ROUNDS):
        run = exp.submit(ScriptRunConfig(str(project), "script.py", arguments=[N]))
        run.wait_for_completion(raise_on_error=True)
        t0 = time.perf_counter()
        metrics = run.get_metrics()
        read_s.append(time.perf_counter() - t0)
        value = metrics.get("bench.per_call_us")
        if value is None:  # fall back on the JSON line the script printed in its driver log
            line = [ln for ln in run.read_log().splitlines() if ln.startswith('{"per_call_us"')][-1]
            value = json.loads(line)["per_call_us"]
        per_call.append(float(value))
        loss = metrics.get("loss", [])
        kept.append(len(loss) if isinstance(loss, list) else 1)
    return {"per_call_us": per_call, "kept": kept, "read_s": read_s}


def bench_in_process(ws) -> dict:
    """ROUNDS interactive runs (start_logging) in this process, N calls each."""
    from aml_jupyter import Experiment

    exp = Experiment(ws, "bench-inprocess")
    per_call, kept, read_s, complete_s, file_bytes = [], [], [], [], []
    for _ in range(ROUNDS):
        run = exp.start_logging(snapshot_directory=None, outputs=None)
        run.log("warmup", 0.0)  # opens the metrics file
        log = run.log
        t0 = time.perf_counter()
        for i in range(N):
            log("loss", i * 0.5)
        per_call.append((time.perf_counter() - t0) / N * 1e6)
        t0 = time.perf_counter()
        loss = run.get_metrics()["loss"]
        read_s.append(time.perf_counter() - t0)
        kept.append(len(loss))
        file_bytes.append(sum(p.stat().st_size for p in (run.folder / "metrics").glob("*.jsonl")))
        t0 = time.perf_counter()
        run.complete()
        complete_s.append(time.perf_counter() - t0)
    # What the bare loop costs without the call, to read the figure against.
    t0 = time.perf_counter()
    for i in range(N):
        i * 0.5
    loop_us = (time.perf_counter() - t0) / N * 1e6
    return {
        "per_call_us": per_call,
        "kept": kept,
        "read_s": read_s,
        "complete_s": complete_s,
        "bytes_per_value": median(file_bytes) / (N + 1),
        "loop_us": loop_us,
    }


def mlflow_default_store(folder: Path) -> tuple[str, str]:
    """MLflow's default tracking URI for this version, made absolute inside ``folder``."""
    import mlflow

    with chdir(folder):
        try:
            from mlflow.tracking._tracking_service.utils import _get_default_tracking_uri

            default = _get_default_tracking_uri()
        except ImportError:  # private API moved: MLflow 3 defaults to sqlite, 2.x to ./mlruns
            major = int(mlflow.__version__.split(".")[0])
            default = "sqlite:///mlflow.db" if major >= 3 else "./mlruns"
    if default.startswith("sqlite:///"):
        path = default[len("sqlite:///") :]
        return default, "sqlite:///" + str((folder / path).resolve())
    path = default[len("file:") :] if default.startswith("file:") else default
    return default, (folder / path).resolve().as_uri()


def bench_mlflow(folder: Path) -> dict:
    """mlflow.log_metric (sync and async) and log_batch on a fresh default-kind store."""
    import mlflow
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    default, uri = mlflow_default_store(folder)
    out: dict = {"version": mlflow.__version__, "default": default, "uri": uri}
    with chdir(folder):  # artifacts default to ./mlruns: keep them in the temp folder
        mlflow.set_tracking_uri(uri)
        t0 = time.perf_counter()
        mlflow.set_experiment("bench")
        out["setup_s"] = time.perf_counter() - t0
        client = MlflowClient()
        with mlflow.start_run() as active:
            run_id = active.info.run_id
            mlflow.log_metric("warmup", 0.0)
            t0 = time.perf_counter()
            for i in range(MLFLOW_N):
                mlflow.log_metric("loss", i * 0.5)
            out["sync_us"] = (time.perf_counter() - t0) / MLFLOW_N * 1e6

            async_ok = hasattr(mlflow, "flush_async_logging")
            if async_ok:
                mlflow.log_metric("warmup_async", 0.0, synchronous=False)
                mlflow.flush_async_logging()
                t0 = time.perf_counter()
                for i in range(MLFLOW_ASYNC_N):
                    mlflow.log_metric("loss_async", i * 0.5, synchronous=False)
                enqueue = time.perf_counter() - t0
                mlflow.flush_async_logging()
                total = time.perf_counter() - t0
                out["async_enqueue_us"] = enqueue / MLFLOW_ASYNC_N * 1e6
                out["async_us"] = total / MLFLOW_ASYNC_N * 1e6

            t0 = time.perf_counter()
            now_ms = int(time.time() * 1000)
            for start in range(0, MLFLOW_BATCH_N, MLFLOW_BATCH_SIZE):
                batch = [
                    Metric("acc", (start + i) * 0.5, now_ms, start + i)
                    for i in range(MLFLOW_BATCH_SIZE)
                ]
                client.log_batch(run_id, metrics=batch)
            out["batch_us"] = (time.perf_counter() - t0) / MLFLOW_BATCH_N * 1e6

        out["sync_kept"] = len(client.get_metric_history(run_id, "loss"))
        if async_ok:
            out["async_kept"] = len(client.get_metric_history(run_id, "loss_async"))
        t0 = time.perf_counter()
        out["batch_kept"] = len(client.get_metric_history(run_id, "acc"))
        out["read_s"] = time.perf_counter() - t0
    return out


def main() -> None:
    clean_environment()
    header("bench_log", f"cost of one run.log(name, value) call, {N:,} calls per run")
    from aml_jupyter import Workspace

    with temp_folder("log") as tmp:
        project = tmp / "project"
        project.mkdir()
        ws = Workspace.create(project)
        with chdir(project):
            sub = bench_submitted(ws, project)
            inp = bench_in_process(ws)
        mlf = None
        if have_mlflow():
            mlf_folder = tmp / "mlflow"
            mlf_folder.mkdir()
            mlf = bench_mlflow(mlf_folder)

    sub_us, inp_us = median(sub["per_call_us"]), median(inp["per_call_us"])

    def spread(xs: list[float]) -> str:
        return f"{min(xs):.2f}-{max(xs):.2f}"

    def faster(us: float) -> str:
        return f"aml {us / inp_us:,.0f}x faster"

    goal = f"<= {GOAL_US:g} µs"
    rows = [
        [
            "aml run.log, in a submitted run",
            f"{N:,} x {ROUNDS} runs",
            fmt_us(sub_us / 1e6),
            spread(sub["per_call_us"]),
            goal,
            verdict(sub_us, GOAL_US),
        ],
        [
            "aml run.log, start_logging() in-process",
            f"{N:,} x {ROUNDS} runs",
            fmt_us(inp_us / 1e6),
            spread(inp["per_call_us"]),
            goal,
            verdict(inp_us, GOAL_US),
        ],
    ]
    if mlf is not None:
        rows.append(
            [
                f"mlflow.log_metric (MLflow {mlf['version']}, default store)",
                f"{MLFLOW_N:,}",
                fmt_us(mlf["sync_us"] / 1e6),
                "",
                "",
                faster(mlf["sync_us"]),
            ]
        )
        if "async_us" in mlf:
            rows.append(
                [
                    "mlflow.log_metric(synchronous=False), flush included",
                    f"{MLFLOW_ASYNC_N:,}",
                    fmt_us(mlf["async_us"] / 1e6),
                    f"enqueue only {fmt_us(mlf['async_enqueue_us'] / 1e6)}",
                    "",
                    faster(mlf["async_us"]),
                ]
            )
        rows.append(
            [
                f"MlflowClient.log_batch, {MLFLOW_BATCH_SIZE:,} per batch (per metric)",
                f"{MLFLOW_BATCH_N:,}",
                fmt_us(mlf["batch_us"] / 1e6),
                "",
                "",
                faster(mlf["batch_us"]),
            ]
        )
    print_table(
        "Per-call logging cost (median run; range = min-max over runs, µs)",
        ["measure", "calls", "per call", "range", "goal", "meets goal / vs aml in-process"],
        rows,
    )

    def kept(got: int, want: int) -> str:
        return f"{got:,}/{want:,}" + ("" if got == want else "  LOST VALUES")

    def kept_all(counts: list[int]) -> str:
        if all(c == N for c in counts):
            return f"{N:,}/{N:,} in each of {len(counts)} runs"
        return ", ".join(kept(c, N) for c in counts)

    mlflow_kept = mlflow_read = "-"
    if mlf is not None:
        mlflow_kept = (
            f"log_metric {kept(mlf['sync_kept'], MLFLOW_N)}"
            + (f", async {kept(mlf['async_kept'], MLFLOW_ASYNC_N)}" if "async_kept" in mlf else "")
            + f", log_batch {kept(mlf['batch_kept'], MLFLOW_BATCH_N)}"
        )
        mlflow_read = f"get_metric_history(): {fmt_ms(mlf['read_s'])}"
    rows2 = [
        [
            "values kept (get_metrics / get_metric_history length)",
            f"submitted: {kept_all(sub['kept'])}; in-process: {kept_all(inp['kept'])}",
            mlflow_kept,
        ],
        [
            f"read {N:,} values back",
            f"run.get_metrics(): {fmt_ms(median(inp['read_s']))}",
            mlflow_read,
        ],
        [
            f"end a run holding {N:,} values",
            f"run.complete(): {fmt_ms(median(inp['complete_s']))}",
            "",
        ],
        ["bytes on disk per value", f"{inp['bytes_per_value']:.0f} B (JSON line)", ""],
        ["bare loop overhead in the figures", fmt_us(inp["loop_us"] / 1e6), ""],
    ]
    print_table("Kept values and costs around logging", ["check", "aml_jupyter", "MLflow"], rows2)
    if mlf is not None:
        print(
            f"MLflow store: default for MLflow {mlf['version']} is {mlf['default']!r}; "
            f"used {mlf['uri']} (a temp folder). MLflow experiment setup (schema creation): "
            f"{fmt_ms(mlf['setup_s'])}."
        )
    print(
        f"Goal: run.log <= {GOAL_US:g} µs per call. Submitted: {fmt_us(sub_us / 1e6)} "
        f"({'met' if sub_us <= GOAL_US else 'NOT met'}); in-process: {fmt_us(inp_us / 1e6)} "
        f"({'met' if inp_us <= GOAL_US else 'NOT met'})."
    )


if __name__ == "__main__":
    main()

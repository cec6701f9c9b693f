"""First page of a run listing in a workspace of 100,000 runs, against ``mlflow.search_runs``.

Setup (not measured): a workspace whose ``runs``, ``experiments``, ``run_tags`` and
``metric_summary`` tables are filled directly with SQLite ``executemany`` (100,000 finished
runs in 6 experiments: ``bench`` holds 50,000, five others 10,000 each; every run has an
``lr`` tag (10 values), 1 in 1,000 a ``best=1`` tag, and one metric ``loss``). The MLflow store
(its default kind for the installed version, sqlite for MLflow 3) is filled the same way, with
the same runs, tags and metric, through its own tables after MLflow created its schema.

Measured (median and p95 of REPS calls, 50 runs per page, newest first, one metric column):

* ``aml_jupyter.tracking.query.list_runs(ws, 'bench', top=50)``; with no experiment filter;
  with a tag filter on a common tag (``lr=0.01``, 10 % of runs) and on a rare one
  (``best=1``, 0.1 %); ``runs_dataframe`` (the same page as a DataFrame);
* the first page from a fresh process (open the workspace, then list), as ``aml run list``;
* ``mlflow.search_runs(experiment_ids, max_results=50, order_by=['attributes.start_time DESC'])``
  for the same four cases, and ``MlflowClient.search_runs`` (entities, no DataFrame).

Goal: <= 20 ms for the first page. Run: ``.venv/bin/python benchmarks/bench_listing.py``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    fmt_s,
    have_mlflow,
    header,
    median,
    percentile,
    print_table,
    temp_folder,
    verdict,
)

EXPERIMENTS = {"bench": 50_000, **{f"exp-{i}": 10_000 for i in range(1, 6)}}
N_RUNS = sum(EXPERIMENTS.values())
LR_VALUES = ["0.1", "0.03", "0.01", "0.003", "0.001", "3e-4", "1e-4", "3e-5", "1e-5", "3e-6"]
RARE_EVERY = 1_000
REPS = 50
MLFLOW_REPS_MAX = 50
MLFLOW_BUDGET_S = 5.0  # per MLflow case: fewer repetitions if one call is slow
FRESH_REPS = 5
GOAL_S = 0.020
PAGE = 50


def plan_runs(seed: int = 7) -> list[dict]:
    """The 100,000 runs both stores get: experiment, time, status, tags, metric."""
    rng = random.Random(seed)
    names = [name for name, count in EXPERIMENTS.items() for _ in range(count)]
    rng.shuffle(names)  # experiments interleave in time, as in a real workspace
    start = time.time() - N_RUNS * 60.0
    runs = []
    for i, exp in enumerate(names):
        created = start + i * 60.0 + rng.random()
        duration = rng.uniform(5, 600)
        runs.append(
            {
                "experiment": exp,
                "created": created,
                "started": created + rng.uniform(0.05, 2.0),
                "ended": created + duration,
                "failed": rng.random() < 0.05,
                "lr": LR_VALUES[i % len(LR_VALUES)],
                "best": i % RARE_EVERY == 0,
                "loss": round(rng.uniform(0.01, 2.5), 6),
                "hex": f"{rng.getrandbits(32):08x}",
            }
        )
    return runs


def seed_aml(project: Path, runs: list[dict]):
    """A workspace holding ``runs``, written straight into its tables."""
    from aml_jupyter import Workspace

    ws = Workspace.create(project)
    conn = sqlite3.connect(ws.folder / "aml.db")
    with conn:
        conn.executemany(
            "INSERT INTO experiments (name, created_utc) VALUES (?, ?)",
            [(name, runs[0]["created"]) for name in EXPERIMENTS],
        )
        exp_ids = dict(conn.execute("SELECT name, id FROM experiments"))
        numbers = dict.fromkeys(EXPERIMENTS, 0)
        run_rows, tag_rows, metric_rows = [], [], []
        for r in runs:
            exp = r["experiment"]
            numbers[exp] += 1
            run_id = f"{exp}_{int(r['created'])}_{r['hex']}"
            definition = {
                "script": "train.py",
                "arguments": ["--lr", r["lr"]],
                "command": None,
                "sourceDirectory": str(project),
                "target": "local",
                "maxRunDurationSeconds": 2592000,
                "environment": None,
                "python": sys.executable,
            }
            run_rows.append(
                (
                    run_id,
                    exp_ids[exp],
                    numbers[exp],
                    "azureml.scriptrun",
                    None,
                    "Failed" if r["failed"] else "Completed",
                    "local",
                    json.dumps(definition),
                    r["created"],
                    r["started"],
                    r["ended"],
                    1 if r["failed"] else 0,
                )
            )
            tag_rows.append((run_id, "lr", r["lr"]))
            if r["best"]:
                tag_rows.append((run_id, "best", "1"))
            metric_rows.append((run_id, "loss", json.dumps(r["loss"]), 20))
        conn.executemany(
            "INSERT INTO runs (id, experiment_id, number, run_type, display_name, status, target,"
            " definition, created_utc, started_utc, ended_utc, exit_code)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        conn.executemany("INSERT INTO run_tags (run_id, key, value) VALUES (?, ?, ?)", tag_rows)
        conn.executemany(
            "INSERT INTO metric_summary (run_id, name, last_value, count) VALUES (?, ?, ?, ?)",
            metric_rows,
        )
    conn.close()
    return ws


def seed_mlflow(folder: Path, runs: list[dict]) -> dict:
    """An MLflow store (default kind) with the same runs; returns ids and the URI."""
    import mlflow
    from mlflow.tracking import MlflowClient

    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with chdir(folder):
        try:
            from mlflow.tracking._tracking_service.utils import _get_default_tracking_uri

            default = _get_default_tracking_uri()
        except ImportError:
            default = (
                "sqlite:///mlflow.db" if int(mlflow.__version__.split(".")[0]) >= 3 else "./mlruns"
            )
    if not default.startswith("sqlite:///"):
        # A file store cannot be filled by SQL; it is also no longer MLflow's default.
        print(f"note: MLflow's default store here is {default!r}; using sqlite instead.")
    db = folder / "mlflow.db"
    uri = f"sqlite:///{db}"
    mlflow.set_tracking_uri(uri)
    client = MlflowClient(uri)
    exp_ids = {name: client.create_experiment(name) for name in EXPERIMENTS}
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA synchronous = OFF")  # setup only: durability is not the point here
    conn.execute("PRAGMA cache_size = -200000")
    run_rows, metric_rows, latest_rows, tag_rows = [], [], [], []
    for r in runs:
        rid = uuid.UUID(int=random.getrandbits(128)).hex
        eid = exp_ids[r["experiment"]]
        start_ms, end_ms = int(r["started"] * 1000), int(r["ended"] * 1000)
        name = f"run-{r['hex']}"
        run_rows.append(
            (
                rid,
                name,
                "UNKNOWN",
                "train.py",
                "",
                "bench",
                "FAILED" if r["failed"] else "FINISHED",
                start_ms,
                end_ms,
                "",
                "active",
                f"{folder}/mlruns/{eid}/{rid}/artifacts",
                int(eid),
            )
        )
        metric_rows.append(("loss", r["loss"], end_ms, rid, 19, 0))
        latest_rows.append(("loss", r["loss"], end_ms, 19, 0, rid))
        tag_rows += [
            ("lr", r["lr"], rid),
            ("mlflow.runName", name, rid),
            ("mlflow.user", "bench", rid),
            ("mlflow.source.name", "train.py", rid),
            ("mlflow.source.type", "LOCAL", rid),
        ]
        if r["best"]:
            tag_rows.append(("best", "1", rid))
    with conn:
        conn.executemany(
            "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, user_id,"
            " status, start_time, end_time, source_version, lifecycle_stage, artifact_uri,"
            " experiment_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            run_rows,
        )
        conn.executemany(
            'INSERT INTO metrics ("key", value, timestamp, run_uuid, step, is_nan)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            metric_rows,
        )
        conn.executemany(
            'INSERT INTO latest_metrics ("key", value, timestamp, step, is_nan, run_uuid)'
            " VALUES (?, ?, ?, ?, ?, ?)",
            latest_rows,
        )
        conn.executemany('INSERT INTO tags ("key", value, run_uuid) VALUES (?, ?, ?)', tag_rows)
    conn.close()
    return {"uri": uri, "default": default, "exp_ids": exp_ids, "version": mlflow.__version__}


def time_calls(fn, reps: int) -> list[float]:
    """Wall seconds of ``reps`` calls of ``fn`` (after one warm-up call)."""
    fn()
    out = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def query_plan(ws, call) -> list[str]:
    """The plan SQLite picks for the runs query ``call()`` sends (diagnosis of slow cases)."""
    conn = ws.store.db._conn  # private, for diagnosis only
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call()
    finally:
        conn.set_trace_callback(None)
    for sql in seen:
        if sql.lstrip().upper().startswith("SELECT R.*"):
            try:
                return [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
            except sqlite3.Error as exc:
                return [f"(no plan: {exc})"]
    return ["(runs query not seen)"]


def ratio(x: float) -> str:
    """``12x`` / ``3.4x`` / ``0.29x``."""
    return f"{x:,.0f}x" if x >= 10 else f"{x:.1f}x" if x >= 1 else f"{x:.2f}x"


def adaptive_reps(fn) -> int:
    t0 = time.perf_counter()
    fn()
    one = time.perf_counter() - t0
    return max(10, min(MLFLOW_REPS_MAX, int(MLFLOW_BUDGET_S / max(one, 1e-6))))


FRESH_SNIPPET = """
import sys, time
t0 = time.perf_counter()
from aml_jupyter import Workspace
from aml_jupyter.tracking.query import list_runs
ws = Workspace(sys.argv[1])
rows = list_runs(ws, "bench", top=50)
assert len(rows) == 50
print(time.perf_counter() - t0)
"""


CASES = {
    "experiment 'bench' (50,000 runs)": ({"experiment": "bench"}, "bench", ""),
    "all experiments (100,000 runs)": ({}, None, ""),
    "tag filter lr=0.01 (10% of runs)": ({"tags": {"lr": "0.01"}}, None, "tags.lr = '0.01'"),
    "tag filter best=1 (0.1% of runs)": ({"tags": {"best": "1"}}, None, "tags.best = '1'"),
}


def bench_mlflow(folder: Path, runs: list[dict]) -> dict:
    """Seed an MLflow store with ``runs``, then time ``search_runs`` for every case."""
    import mlflow
    from mlflow.tracking import MlflowClient

    t0 = time.perf_counter()
    with chdir(folder):
        mlf = seed_mlflow(folder, runs)
    mlf["seed_s"] = time.perf_counter() - t0
    with chdir(folder):
        mlflow.set_tracking_uri(mlf["uri"])
        client = MlflowClient(mlf["uri"])
        all_ids = list(mlf["exp_ids"].values())
        order = ["attributes.start_time DESC"]
        mlf["times"] = {}
        for label, (_, exp, flt) in CASES.items():
            ids = [mlf["exp_ids"][exp]] if exp else all_ids

            def fn(ids: list[str] = ids, flt: str = flt):
                return mlflow.search_runs(
                    experiment_ids=ids, filter_string=flt, max_results=PAGE, order_by=order
                )

            df = fn()
            assert len(df) == PAGE and "metrics.loss" in df.columns, (label, len(df))
            mlf["times"][label] = time_calls(fn, adaptive_reps(fn))

        def client_fn():
            return client.search_runs([mlf["exp_ids"]["bench"]], max_results=PAGE, order_by=order)

        mlf["client"] = time_calls(client_fn, adaptive_reps(client_fn))
    return mlf


def main() -> None:
    clean_environment()
    header("bench_listing", f"first page (top {PAGE}) of a run listing, {N_RUNS:,} runs")
    from aml_jupyter.tracking.query import list_runs, runs_dataframe

    runs = plan_runs()
    with temp_folder("listing") as tmp:
        project = tmp / "project"
        project.mkdir()
        t0 = time.perf_counter()
        ws = seed_aml(project, runs)
        aml_seed_s = time.perf_counter() - t0

        # Sanity: a full page, newest first, with the metric.
        page = list_runs(ws, "bench", top=PAGE)
        assert len(page) == PAGE and "metric.loss" in page[0], page[:1]
        assert page[0]["created"] >= page[-1]["created"]

        ours = {
            label: time_calls(lambda kw=kw: list_runs(ws, top=PAGE, **kw), REPS)
            for label, (kw, _, _) in CASES.items()
        }
        plans = {
            label: query_plan(ws, lambda kw=kw: list_runs(ws, top=PAGE, **kw))
            for label, (kw, _, _) in CASES.items()
            if median(ours[label]) > GOAL_S
        }
        ours_df = time_calls(lambda: runs_dataframe(ws, "bench", top=PAGE), REPS)
        env = dict(os.environ)
        if env.pop("PYTHONDONTWRITEBYTECODE", None):  # a normal install has .pyc files
            env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        cmd = [sys.executable, "-c", FRESH_SNIPPET, str(ws.folder)]
        subprocess.run(cmd, capture_output=True, check=True, env=env)  # warm-up
        fresh = [
            float(subprocess.run(cmd, capture_output=True, text=True, check=True, env=env).stdout)
            for _ in range(FRESH_REPS)
        ]
        mlf = None
        if have_mlflow():
            mlf_folder = tmp / "mlflow"
            mlf_folder.mkdir()
            mlf = bench_mlflow(mlf_folder, runs)

    def stat(values: list[float], n: bool = False) -> str:
        text = f"{fmt_ms(median(values))} / {fmt_ms(percentile(values, 95))}"
        return text + (f" (n={len(values)})" if n else "")

    rows = []
    for label in CASES:
        a = ours[label]
        m = mlf["times"][label] if mlf else None
        rows.append(
            [
                label,
                stat(a),
                stat(m, n=True) if m else "-",
                ratio(median(m) / median(a)) if m else "-",
                f"<= {GOAL_S * 1000:.0f} ms",
                verdict(median(a), GOAL_S),
            ]
        )
    rows.append(
        [
            "experiment 'bench', as a DataFrame",
            f"{stat(ours_df)} (runs_dataframe)",
            f"MlflowClient.search_runs (entities): {stat(mlf['client'], n=True)}" if mlf else "-",
            "",
            "",
            "",
        ]
    )
    rows.append(
        [
            "fresh process: open workspace + first page",
            f"{fmt_ms(median(fresh))} (n={FRESH_REPS})",
            "",
            "",
            "",
            "",
        ]
    )
    print_table(
        f"First page ({PAGE} runs, newest first, metric 'loss'): median / p95 of {REPS} calls",
        [
            "listing",
            f"aml list_runs ({N_RUNS:,} runs)",
            f"mlflow.search_runs ({N_RUNS:,} runs, DataFrame)",
            "mlflow / aml",
            "goal",
            "meets goal",
        ],
        rows,
    )
    print(f"aml_jupyter workspace seeded in {fmt_s(aml_seed_s)} (bulk SQL, not measured).")
    if mlf:
        print(
            f"MLflow {mlf['version']} store {mlf['uri']} (default for this version: "
            f"{mlf['default']!r}) seeded with the same {N_RUNS:,} runs by SQL in "
            f"{fmt_s(mlf['seed_s'])}."
        )
    for label, plan in plans.items():
        print(f"SQLite plan for the slow case {label!r}: " + " / ".join(plan))
    worst = max(median(v) for v in ours.values())
    print(
        f"Goal: first page <= {GOAL_S * 1000:.0f} ms. Slowest aml case: {fmt_ms(worst)} "
        f"({'met' if worst <= GOAL_S else 'NOT met'})."
    )


if __name__ == "__main__":
    main()

"""Cost of ``mlflow.log_metric`` into our run (the ``aml`` plugin) vs MLflow's own store.

Measured in this process, one after the other, with the same calls:

* ``mlflow.log_metric("loss", x, step=i)`` x N inside ``mlflow.start_run()`` with the tracking
  URI ``ws.get_mlflow_tracking_uri()`` (our store: an append to the run's metric file);
* the same calls on MLflow's default store for the installed version (``sqlite:///mlflow.db``
  for MLflow 3 when SQLAlchemy is installed, else a ``file:`` store, which mlflow-skinny
  has), fewer calls when each is a database transaction;
* ``MlflowClient.log_batch`` of N metrics in batches of 1,000 on both (cost per metric).

Also checks every value came back (``get_metric_history``). MLflow's own per-call overhead
(validation, entity objects, the fluent API's client lookup) is in both figures.
Run: ``.venv/bin/python benchmarks/bench_mlflow_logging.py``.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chdir, clean_environment, fmt_us, have_mlflow, header, print_table, temp_folder

N = 20_000  # mlflow.log_metric calls into our run
DEFAULT_N = 2_000  # ... into MLflow's sqlite store (a transaction each: ~ms)
BATCH_N, BATCH_SIZE = 20_000, 1_000


def default_store(folder: Path) -> tuple[str, str]:
    """MLflow's default store URI in ``folder``; a file store where sqlite cannot be used."""
    from bench_log import mlflow_default_store

    default, uri = mlflow_default_store(folder)
    if uri.startswith("sqlite:") and importlib.util.find_spec("sqlalchemy") is None:
        os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"  # MLflow 3 refuses it unless asked
        return "file store (sqlite needs the full mlflow)", (folder / "mlruns").as_uri()
    return default, uri


def measure(uri: str, n: int) -> dict:
    """``n`` log_metric calls and a log_batch of BATCH_N metrics on the store at ``uri``."""
    import mlflow
    from mlflow.entities import Metric

    mlflow.set_tracking_uri(uri)
    mlflow.set_experiment("bench-mlflow")
    client = mlflow.MlflowClient()
    with mlflow.start_run() as active:
        run_id = active.info.run_id
        mlflow.log_metric("warmup", 0.0)  # first call: store and file opened
        t0 = time.perf_counter()
        for i in range(n):
            mlflow.log_metric("loss", i * 0.5, step=i)
        per_call = (time.perf_counter() - t0) / n
        # The store alone, without the fluent API's client lookups (private: where time goes).
        store = client._tracking_client.store
        t0 = time.perf_counter()
        for i in range(n):
            store.log_metric(run_id, Metric("direct", i * 0.5, int(time.time() * 1000), i))
        per_store_call = (time.perf_counter() - t0) / n
        now = int(time.time() * 1000)
        batches = [
            [Metric("acc", j * 1e-5, now, j) for j in range(s, s + BATCH_SIZE)]
            for s in range(0, BATCH_N, BATCH_SIZE)
        ]
        t0 = time.perf_counter()
        for batch in batches:
            client.log_batch(run_id, metrics=batch)
        per_batch_metric = (time.perf_counter() - t0) / BATCH_N
    kept = len(client.get_metric_history(run_id, "loss"))
    kept_batch = len(client.get_metric_history(run_id, "acc"))
    return {
        "per_call": per_call,
        "per_store_call": per_store_call,
        "per_batch_metric": per_batch_metric,
        "kept": (kept, kept_batch),
    }


def main() -> None:
    clean_environment()
    header("bench_mlflow_logging", "mlflow.log_metric into an aml run vs MLflow's own store")
    if not have_mlflow():
        return
    from aml_jupyter.paths import MLFLOW_PLUGIN_DIR

    sys.path.insert(0, str(MLFLOW_PLUGIN_DIR))  # as a run finds the plugin, installed or not
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    for name in ("mlflow", "alembic", "sqlalchemy"):
        logging.getLogger(name).setLevel(logging.WARNING)
    import mlflow

    from aml_jupyter import Workspace

    with temp_folder("mlflow-logging") as tmp:
        ws = Workspace.create(tmp / "aml")
        with chdir(tmp):
            ours = measure(ws.get_mlflow_tracking_uri(), N)
            (tmp / "mlflow").mkdir()
            kind, uri = default_store(tmp / "mlflow")
            theirs = measure(uri, DEFAULT_N)
    ratio = theirs["per_call"] / ours["per_call"]
    store_ratio = theirs["per_store_call"] / ours["per_store_call"]
    batch_ratio = theirs["per_batch_metric"] / ours["per_batch_metric"]
    print_table(
        f"mlflow.log_metric, MLflow {mlflow.__version__}",
        [
            "store",
            "calls",
            "per log_metric",
            "store.log_metric alone",
            "per metric in log_batch",
            "kept",
        ],
        [
            [
                "aml (our run)",
                f"{N:,}",
                fmt_us(ours["per_call"]),
                fmt_us(ours["per_store_call"]),
                fmt_us(ours["per_batch_metric"]),
                f"{ours['kept'][0]:,} + {ours['kept'][1]:,}",
            ],
            [
                f"MLflow default: {kind}",
                f"{DEFAULT_N:,}",
                fmt_us(theirs["per_call"]),
                fmt_us(theirs["per_store_call"]),
                fmt_us(theirs["per_batch_metric"]),
                f"{theirs['kept'][0]:,} + {theirs['kept'][1]:,}",
            ],
        ],
    )
    print(
        f"aml is {ratio:,.1f}x faster per mlflow.log_metric, {store_ratio:,.1f}x per store call, "
        f"{batch_ratio:,.1f}x per batched metric (the rest of a log_metric is MLflow's own client)"
    )
    ok = ours["kept"] == (N + 0, BATCH_N) and theirs["kept"] == (DEFAULT_N, BATCH_N)
    print("every value kept:", "yes" if ok else f"NO ({ours['kept']}, {theirs['kept']})")


if __name__ == "__main__":
    main()

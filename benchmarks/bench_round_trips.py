"""Statements a common read costs: what would be round trips to a team workspace server.

Measured in one process (statements counted by the store's ``count_statements`` hook; SQLAlchemy's
``before_cursor_execute`` event for MLflow):

* list an experiment's 20 runs, then read each one's status, display name and tags — the
  loop of a notebook that prints a table of runs (``run.tags`` as listed; ``get_tags()``, which
  asks again as v1's did);
* ``repr(run)`` and ``run.get_status()`` of a finished run, and of a running one;
* beside them, MLflow's ``MlflowClient.search_runs`` over the same 20 runs (sqlite store),
  reading ``info.status``, ``info.run_name`` and ``data.tags`` of each.

Goal (issue "Seams"): the listing loop in at most 3 statements. Run:
``.venv/bin/python benchmarks/bench_round_trips.py``.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chdir, clean_environment, have_mlflow, header, print_table, temp_folder

N_RUNS = 20


def ours(folder: Path) -> list[tuple[str, int, float]]:
    from aml_jupyter import Experiment, Workspace

    ws = Workspace.create(folder / "ws")
    exp = Experiment(ws, "roundtrips")
    for i in range(N_RUNS):
        run = exp.start_logging(snapshot_directory=None, outputs=None)
        run.set_tags({"lr": str(0.01 * (i % 4)), "seed": str(i)})
        run.complete()
    rows = []

    def count(label: str, action: object) -> None:
        with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
            t0 = time.perf_counter()
            action()  # type: ignore[operator]
            seconds = time.perf_counter() - t0
        rows.append((label, len(seen), seconds))

    def listing() -> None:
        for r in exp.get_runs():
            r.status  # noqa: B018
            r.display_name  # noqa: B018
            r.tags  # noqa: B018 (as read with the page, like v1's property)

    def listing_asking_again() -> None:
        for r in exp.get_runs():
            r.status  # noqa: B018
            r.display_name  # noqa: B018
            r.get_tags()  # v1's getter: asks again, one statement a run

    count(f"list {N_RUNS} runs + .status, .display_name, .tags of each", listing)
    count(f"list {N_RUNS} runs + .status, .display_name, .get_tags() of each", listing_asking_again)
    done = next(iter(exp.get_runs()))
    count("repr(run), a Completed run", lambda: repr(done))
    count("run.get_status(), a Completed run", done.get_status)
    live = exp.start_logging(snapshot_directory=None, outputs=None)
    try:
        count("repr(run), a Running run", lambda: repr(live))
        count("run.get_status(), a Running run", live.get_status)
    finally:
        live.complete()
    return rows


def mlflow_side(folder: Path) -> tuple[int, float] | None:
    if not have_mlflow():
        return None
    import mlflow
    from mlflow.tracking import MlflowClient
    from sqlalchemy import event

    logging.getLogger("alembic").setLevel(logging.WARNING)
    mlflow.set_tracking_uri(f"sqlite:///{folder / 'mlflow.db'}")
    client = MlflowClient()
    exp_id = client.create_experiment("roundtrips")
    for i in range(N_RUNS):
        run = client.create_run(exp_id, tags={"lr": str(0.01 * (i % 4)), "seed": str(i)})
        client.set_terminated(run.info.run_id)
    engine = client._tracking_client.store.engine
    seen: list[str] = []
    listener = lambda *args: seen.append(args[2])  # noqa: E731 (conn, cursor, statement, ...)
    event.listen(engine, "before_cursor_execute", listener)
    t0 = time.perf_counter()
    for r in client.search_runs([exp_id], max_results=N_RUNS):
        r.info.status  # noqa: B018
        r.info.run_name  # noqa: B018
        r.data.tags  # noqa: B018
    seconds = time.perf_counter() - t0
    event.remove(engine, "before_cursor_execute", listener)
    return len(seen), seconds


def main() -> None:
    clean_environment()
    header("round trips", "SQL statements of common reads (each a request to a server)")
    with temp_folder("roundtrips") as folder, chdir(folder):
        rows = ours(folder)
        theirs = mlflow_side(folder)
    table = [(label, n, f"{s * 1e3:.2f} ms") for label, n, s in rows]
    if theirs is not None:
        table.append(
            (
                f"MLflow: search_runs of {N_RUNS} + status, name, tags",
                theirs[0],
                f"{theirs[1] * 1e3:.2f} ms",
            )
        )
    print_table(
        "statements (goal: the listing loop in <= 3)", ["read", "statements", "wall"], table
    )


if __name__ == "__main__":
    main()

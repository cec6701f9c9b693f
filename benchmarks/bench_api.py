"""The REST API of the Jupyter server extension over HTTP, 100,000 runs, against ``mlflow server``.

Setup (not measured): the 100,000-run workspace of ``bench_listing.py`` (``plan_runs`` and
``seed_aml``: 6 experiments, ``bench`` holding 50,000; an ``lr`` tag on every run, ``best=1``
on 1 in 1,000, 5 % Failed, one metric ``loss``), served by a real ``jupyter server``
subprocess whose root folder is the project (so the extension finds the workspace as it does
for a user), with a random token and ``--ServerApp.log_level=DEBUG`` so that the server logs
how long it spent on each request. Then the same runs in an MLflow sqlite store
(``seed_mlflow``), served by ``mlflow server --workers 1`` (its job runner switched off, as it
has nothing to do with searching runs).

Measured over loopback with one keep-alive ``http.client`` connection per server, median and
p95 of up to REPS requests per case after WARMUPS warm-ups:

* aml_jupyter, ``GET <base_url>aml/api/...``: the first page of all runs (``runs?limit=50``),
  of one experiment, with a common tag filter (``lr=0.01``, 10 %), a rare one (``best=1``,
  0.1 %), a status filter (``Failed``, 5 %), a common text (``q=exp-3``, 10 %), a rare text
  (``q=<8 hex of one run id>``: matches one run), the last page (``offset=99950``), one run's
  details (``runs/<id>``) and ``experiments``. The listing cases run twice: unchanged
  workspace (a polling sidebar: the server reuses the count it remembered) and with a write
  by another process before each request (the count is recomputed). For each: the
  server-side time from Jupyter's own request log line (``200 GET ... 2.19ms``: from the parsed
  request to ``finish()``, what the goal is about), the client round-trip (an upper bound:
  adds loopback, HTTP parsing and reading the body) and the response size.
* MLflow, the REST calls its UI makes: ``POST /api/2.0/mlflow/runs/search`` with
  ``max_results=50`` and ``order_by=['attributes.start_time DESC']`` over all experiments, one
  experiment, the same tag and status filters, and the rare text as a run-name search
  (``attributes.run_name ILIKE '%<hex>%'``: MLflow's filter has no search across all fields);
  ``runs/get`` and ``experiments/search``. Client round-trip only (uvicorn logs no timing).
  ``q=exp-3`` and the last page have no MLflow counterpart (runs are not named after their
  experiment; MLflow pages by token, 2,000 requests to the bottom).
* For each aml case over the goal, where its time goes: the SQL statements the same call sends
  in-process, each re-run alone (median of 3), with SQLite's query plan.

Goal: first page <= 50 ms server-side with 100,000 runs (the other cases are reported against
the same figure). Run: ``.venv/bin/python benchmarks/bench_api.py`` (about 2 minutes on 2
cores, most of it seeding MLflow and starting the two servers).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

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
from bench_listing import EXPERIMENTS, N_RUNS, plan_runs, seed_aml, seed_mlflow

GOAL_S = 0.050
PAGE = 50
WARMUPS = 3
REPS = 50
MIN_REPS = 10
BUDGET_S = 6.0  # per case: fewer repetitions when one request is slow
START_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 10.0
BIN = Path(sys.executable).parent
#: Jupyter's request log line: ``200 GET /aml/api/runs?limit=50 (user@127.0.0.1) 2.19ms``.
LOG_LINE = re.compile(r"\b(\d{3}) GET (\S+) \([^)]*\) ([0-9.]+)ms")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def server(cmd: list[str], log_path: Path, env: dict[str, str], ready: Callable[[], bool]):
    """Run ``cmd`` in its own process group until ``ready()``; stop it (and its group) after."""
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            cmd,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # a group of its own: workers can be stopped with it
        )
    try:
        t0 = time.perf_counter()
        while not ready():
            if proc.poll() is not None or time.perf_counter() - t0 > START_TIMEOUT_S:
                tail = log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{cmd[0]} did not start (exit {proc.poll()}):\n{tail}")
            time.sleep(0.2)
        yield proc, time.perf_counter() - t0
    finally:
        stop(proc)


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM the server by PID; kill its process group if it or a child lingers."""
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            proc.wait()
    for sig in (signal.SIGTERM, signal.SIGKILL):  # workers left behind by the leader
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, sig)
        time.sleep(1.0)


def answers(port: int, path: str, headers: dict[str, str]) -> bool:
    """True once ``GET path`` answers 200."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path, headers=headers)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


class Client:
    """One keep-alive connection; each request returns (status, body, seconds)."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port, self.headers = port, headers
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        self.reconnects = 0

    def send(self, method: str, path: str, body: dict | None = None) -> tuple[int, bytes, float]:
        data = None if body is None else json.dumps(body).encode()
        headers = dict(self.headers)
        if data is not None:
            headers["Content-Type"] = "application/json"
        for attempt in (1, 2):
            t0 = time.perf_counter()
            try:
                self.conn.request(method, path, body=data, headers=headers)
                resp = self.conn.getresponse()
                payload = resp.read()
            except (http.client.RemoteDisconnected, ConnectionError):
                if attempt == 2:
                    raise
                self.conn.close()  # the server closed the idle connection: open a new one
                self.reconnects += 1
                continue
            return resp.status, payload, time.perf_counter() - t0
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def time_requests(
    client: Client,
    method: str,
    path: str,
    body: dict | None = None,
    before: Callable[[], None] | None = None,
) -> dict:
    """WARMUPS requests, then up to REPS timed ones (fewer, at least MIN_REPS, when slow).

    ``before`` runs (untimed) ahead of every request: a write to the workspace, so the
    server cannot reuse a count it remembered.
    """
    for _ in range(WARMUPS):
        if before:
            before()
        status, payload, one = client.send(method, path, body)
        assert status == 200, (path, status, payload[:500])
    reps = max(MIN_REPS, min(REPS, int(BUDGET_S / max(one, 1e-6))))
    times = []
    for _ in range(reps):
        if before:
            before()
        status, payload, dt = client.send(method, path, body)
        assert status == 200, (path, status, payload[:500])
        times.append(dt)
    return {"times": times, "bytes": len(payload), "json": json.loads(payload), "reps": reps}


def server_times(log_path: Path) -> dict[str, list[float]]:
    """Seconds the Jupyter server logged for each URI, in order (200 answers only)."""
    out: dict[str, list[float]] = {}
    for line in log_path.read_text(errors="replace").splitlines():
        m = LOG_LINE.search(line)
        if m and m.group(1) == "200":
            out.setdefault(m.group(2), []).append(float(m.group(3)) / 1000.0)
    return out


def rare_run(runs: list[dict]) -> dict:
    """A run in the middle whose 8 hex are its own and cannot be part of a timestamp."""
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["hex"]] = counts.get(r["hex"], 0) + 1
    middle = len(runs) // 2
    for r in runs[middle:] + runs[:middle]:
        if counts[r["hex"]] == 1 and not r["hex"].isdigit() and not r["best"]:
            return r
    raise AssertionError("no run with unique hex")


def aml_cases(run_id: str, hex_: str) -> dict[str, tuple[str, Callable | None]]:
    """Case label -> (path under ``aml/api/``, the same store work in-process, for diagnosis)."""
    from aml_jupyter.tracking.query import run_page

    def page(**kw: object) -> Callable:
        return lambda ws: run_page(ws, limit=PAGE, **kw)

    return {
        "first page, all runs": (f"runs?limit={PAGE}", page()),
        "experiment 'bench' (50,000 runs)": (
            f"runs?experiment=bench&limit={PAGE}",
            page(experiment="bench"),
        ),
        "tag lr=0.01 (10%)": (
            f"runs?tag={quote('lr=0.01')}&limit={PAGE}",
            page(tags={"lr": "0.01"}),
        ),
        "tag best=1 (0.1%)": (f"runs?tag={quote('best=1')}&limit={PAGE}", page(tags={"best": "1"})),
        "status Failed (5%)": (f"runs?status=Failed&limit={PAGE}", page(status=["Failed"])),
        "text q=exp-3 (10%)": (f"runs?q=exp-3&limit={PAGE}", page(text="exp-3")),
        f"text q={hex_} (1 run)": (f"runs?q={hex_}&limit={PAGE}", page(text=hex_)),
        "last page (offset 99,950)": (
            f"runs?offset={N_RUNS - PAGE}&limit={PAGE}",
            page(offset=N_RUNS - PAGE),
        ),
        "run details runs/<id>": (f"runs/{run_id}", None),
        "experiments": ("experiments", lambda ws: ws.store.experiment_summaries()),
    }


def costly_statements(ws, call: Callable) -> list[tuple[float, str, list[str]]]:
    """The SELECTs ``call(ws)`` sends, each re-run alone: (median seconds, SQL, plan), slowest first."""
    conn = ws.store.db._conn  # private, for diagnosis only
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        call(ws)
    finally:
        conn.set_trace_callback(None)
    out = []
    for sql in dict.fromkeys(seen):
        if not sql.lstrip().upper().startswith("SELECT"):
            continue
        times = []
        for _ in range(3):
            t0 = time.perf_counter()
            conn.execute(sql).fetchall()
            times.append(time.perf_counter() - t0)
        plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql)]
        out.append((median(times), sql, plan))
    return sorted(out, key=lambda x: -x[0])


def check_aml(label: str, answer: dict, counts: dict[str, int]) -> None:
    """What each aml case's answer should say about the store (a sanity check)."""
    if label == "run details runs/<id>":
        assert answer["id"] and answer["tags"]["lr"], answer
        return
    if label == "experiments":
        assert sum(e["run_count"] for e in answer["experiments"]) == N_RUNS, answer
        return
    want = counts[label]
    assert answer["total"] == want, (label, answer["total"], want)
    assert len(answer["runs"]) == min(PAGE, want), (label, len(answer["runs"]))


def bench_aml(tmp: Path, runs: list[dict], rare: dict) -> dict:
    """Seed the workspace, start ``jupyter server`` on it, time every case."""
    project = tmp / "project"
    project.mkdir()
    t0 = time.perf_counter()
    seed_aml(project, runs)
    seed_s = time.perf_counter() - t0
    run_id = f"{rare['experiment']}_{int(rare['created'])}_{rare['hex']}"
    cases = aml_cases(run_id, rare["hex"])
    n_failed = sum(r["failed"] for r in runs)
    counts = {
        "first page, all runs": N_RUNS,
        "experiment 'bench' (50,000 runs)": EXPERIMENTS["bench"],
        "tag lr=0.01 (10%)": sum(r["lr"] == "0.01" for r in runs),
        "tag best=1 (0.1%)": sum(r["best"] for r in runs),
        "status Failed (5%)": n_failed,
        "text q=exp-3 (10%)": EXPERIMENTS["exp-3"],
        f"text q={rare['hex']} (1 run)": 1,
        "last page (offset 99,950)": N_RUNS,
    }

    token = secrets.token_hex(16)
    port = free_port()
    auth = {"Authorization": f"token {token}"}
    cmd = [
        str(BIN / "jupyter"),
        "server",
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={project}",
        "--ServerApp.log_level=DEBUG",
    ]
    if os.geteuid() == 0:
        cmd.append("--allow-root")
    env = dict(os.environ)
    env["JUPYTER_RUNTIME_DIR"] = str(tmp / "jupyter-runtime")  # no server file in ~/.local
    log_path = tmp / "jupyter.log"
    out: dict = {"seed_s": seed_s, "cases": {}, "after_write": {}, "paths": cases}
    with server(cmd, log_path, env, lambda: answers(port, "/api/status", auth)) as (_, start_s):
        out["start_s"] = start_s
        client = Client(port, auth)
        try:
            for label, (path, _) in cases.items():
                res = time_requests(client, "GET", f"/aml/api/{path}")
                check_aml(label, res["json"], counts)
                out["cases"][label] = res
            # Again with a write by another process before each request (as when a run
            # starts or ends): the listing's total is counted afresh every time.
            writer = sqlite3.connect(project / ".aml" / "aml.db")

            def write() -> None:
                writer.execute("UPDATE experiments SET archived = 1 - archived WHERE id = 1")
                writer.commit()

            try:
                for label, (path, _) in cases.items():
                    if path.startswith("runs?"):
                        res = time_requests(
                            client, "GET", f"/aml/api/{path}&after=write", before=write
                        )
                        check_aml(label, res["json"], counts)
                        out["after_write"][label] = res
            finally:
                writer.close()
        finally:
            client.close()
        time.sleep(0.5)  # the last log lines
        logged = server_times(log_path)
        out["reconnects"] = client.reconnects
    for label, (path, _) in cases.items():
        res = out["cases"][label]
        seen = logged.get(f"/aml/api/{path}", [])
        # Drop the warm-ups; a count that does not match means the log was not what we think.
        res["server"] = seen[WARMUPS:] if len(seen) == WARMUPS + res["reps"] else None
    for label, res in out["after_write"].items():
        seen = logged.get(f"/aml/api/{cases[label][0]}&after=write", [])
        res["server"] = seen[WARMUPS:] if len(seen) == WARMUPS + res["reps"] else None

    # Where the time of a slow case goes: its SQL, statement by statement (server stopped).
    from aml_jupyter import Workspace

    ws = Workspace(project)
    out["diagnosis"] = {
        label: costly_statements(ws, call)
        for label, (_, call) in cases.items()
        if call is not None
        and median(out["cases"][label]["server"] or out["cases"][label]["times"]) > GOAL_S
    }
    return out


def mlflow_cases(exp_ids: dict[str, str], run_uuid: str, hex_: str) -> dict[str, tuple]:
    """aml case label -> (method, MLflow REST path, JSON body)."""
    search = "/api/2.0/mlflow/runs/search"
    every = list(exp_ids.values())

    def body(ids: list[str], flt: str = "") -> dict:
        b = {"experiment_ids": ids, "max_results": PAGE, "order_by": ["attributes.start_time DESC"]}
        return {**b, "filter": flt} if flt else b

    return {
        "first page, all runs": ("POST", search, body(every)),
        "experiment 'bench' (50,000 runs)": ("POST", search, body([exp_ids["bench"]])),
        "tag lr=0.01 (10%)": ("POST", search, body(every, "tags.lr = '0.01'")),
        "tag best=1 (0.1%)": ("POST", search, body(every, "tags.best = '1'")),
        "status Failed (5%)": ("POST", search, body(every, "attributes.status = 'FAILED'")),
        f"text q={hex_} (1 run)": (
            "POST",
            search,
            body(every, f"attributes.run_name ILIKE '%{hex_}%'"),
        ),
        "run details runs/<id>": ("GET", f"/api/2.0/mlflow/runs/get?run_id={run_uuid}", None),
        "experiments": ("POST", "/api/2.0/mlflow/experiments/search", {"max_results": 1000}),
    }


def bench_mlflow(tmp: Path, runs: list[dict], rare: dict) -> dict:
    """Seed an MLflow sqlite store, start ``mlflow server`` on it, time the same cases."""
    folder = tmp / "mlflow"
    folder.mkdir()
    t0 = time.perf_counter()
    with chdir(folder):
        mlf = seed_mlflow(folder, runs)
    mlf["seed_s"] = time.perf_counter() - t0
    conn = sqlite3.connect(folder / "mlflow.db")
    (run_uuid,) = conn.execute(
        "SELECT run_uuid FROM runs WHERE name = ?", (f"run-{rare['hex']}",)
    ).fetchone()
    conn.close()
    cases = mlflow_cases(mlf["exp_ids"], run_uuid, rare["hex"])
    port = free_port()
    cmd = [
        str(BIN / "mlflow"),
        "server",
        "--backend-store-uri",
        mlf["uri"],
        "--default-artifact-root",
        str(folder / "artifacts"),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    env = dict(os.environ)
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    mlf["cases"] = {}
    with (
        chdir(folder),
        server(cmd, tmp / "mlflow.log", env, lambda: answers(port, "/health", {})) as (_, start_s),
    ):
        mlf["start_s"] = start_s
        client = Client(port, {})
        try:
            for label, (method, path, body) in cases.items():
                res = time_requests(client, method, path, body)
                if "runs" in path and "search" in path:
                    got = len(res["json"].get("runs", []))
                    assert got == min(PAGE, 1 if "ILIKE" in body.get("filter", "") else PAGE), got
                mlf["cases"][label] = res
        finally:
            client.close()
    mlf["requests"] = cases
    return mlf


def stat(values: list[float] | None) -> tuple[str, str]:
    if not values:
        return "-", "-"
    return fmt_ms(median(values)), fmt_ms(percentile(values, 95))


def after_write(aml: dict, label: str) -> str:
    """Server-side median / p95 of a listing case when the workspace changed just before."""
    res = aml["after_write"].get(label)
    if res is None:
        return "-"
    return " / ".join(stat(res["server"] or res["times"]))


def main() -> None:
    clean_environment()
    header("bench_api", f"the REST API over HTTP, first page of {PAGE}, {N_RUNS:,} runs")
    runs = plan_runs()
    rare = rare_run(runs)
    with temp_folder("api") as tmp:
        aml = bench_aml(tmp, runs, rare)
        mlf = bench_mlflow(tmp, runs, rare) if have_mlflow() else None

    rows = []
    no_log = False
    for label, res in aml["cases"].items():
        srv = res["server"]
        no_log = no_log or srv is None
        basis = srv if srv else res["times"]
        m = mlf["cases"].get(label) if mlf else None
        ratio = f"{median(m['times']) / median(res['times']):,.1f}x" if m else "-"
        rows.append(
            [
                label,
                *stat(srv),
                *stat(res["times"]),
                f"{res['bytes']:,}",
                after_write(aml, label),
                *(stat(m["times"]) if m else ("-", "-")),
                f"{m['bytes']:,}" if m else "-",
                ratio,
                verdict(median(basis), GOAL_S),
            ]
        )
    print_table(
        f"aml_jupyter REST API (jupyter server) vs mlflow server, {N_RUNS:,} runs: median / p95 "
        f"of up to {REPS} requests after {WARMUPS} warm-ups, one keep-alive connection",
        [
            "case",
            "aml server-side median",
            "p95",
            "aml round-trip median",
            "p95",
            "aml bytes",
            "aml server-side after a write (median / p95)",
            "MLflow round-trip median",
            "p95",
            "MLflow bytes",
            "MLflow / aml (round-trip)",
            f"server-side <= {GOAL_S * 1000:.0f} ms",
        ],
        rows,
    )
    print("Requests (aml under /aml/api/; MLflow as sent):")
    for label, (path, _) in aml["paths"].items():
        n = aml["cases"][label]["reps"]
        line = f"  {label}: GET {path} (n={n})"
        if mlf and label in mlf["requests"]:
            method, mpath, body = mlf["requests"][label]
            extra = "" if body is None else " " + json.dumps(body)
            line += f" | MLflow {method} {mpath}{extra} (n={mlf['cases'][label]['reps']})"
        print(line)
    print(
        f"aml_jupyter workspace seeded in {fmt_s(aml['seed_s'])} (bulk SQL, not measured); "
        f"jupyter server answered /api/status after {fmt_s(aml['start_s'])}."
    )
    if aml["reconnects"]:
        print(f"note: the server closed the keep-alive connection {aml['reconnects']} time(s).")
    if no_log:
        print(
            "note: Jupyter's request log did not give a time for every request of some case; "
            "their verdict uses the client round-trip (an upper bound)."
        )
    if mlf:
        print(
            f"MLflow {mlf['version']} store {mlf['uri']} seeded with the same runs in "
            f"{fmt_s(mlf['seed_s'])}; mlflow server --workers 1 answered /health after "
            f"{fmt_s(mlf['start_s'])}. No MLflow counterpart for 'q=exp-3' (its runs are not "
            "named after their experiment) or the last page (MLflow pages by token)."
        )
    for label, statements in aml["diagnosis"].items():
        print(f"Slow case {label!r}, its SQL re-run alone in-process (median of 3):")
        for i, (seconds, sql, plan) in enumerate(statements[:3]):
            if i and seconds < 0.005:
                break
            short = sql if len(sql) <= 220 else sql[:217] + "..."
            print(f"  {fmt_ms(seconds):>9}  {short}\n             plan: {' / '.join(plan)}")
    slow = [
        label for label, r in aml["cases"].items() if median(r["server"] or r["times"]) > GOAL_S
    ]
    first = aml["cases"]["first page, all runs"]
    first_med = median(first["server"] or first["times"])
    print(
        f"Goal: first page <= {GOAL_S * 1000:.0f} ms server-side with {N_RUNS:,} runs: "
        f"{fmt_ms(first_med)} ({'met' if first_med <= GOAL_S else 'NOT met'}). "
        + (f"Cases over {GOAL_S * 1000:.0f} ms: {', '.join(slow)}." if slow else "Every case met.")
    )


if __name__ == "__main__":
    main()

"""Model serving: aml_jupyter's local scoring service vs ``mlflow models serve``, same model.

Setup: a scikit-learn ``LogisticRegression`` fitted on iris, in a temp folder. aml_jupyter gets
it as a joblib file registered with ``model_framework="ScikitLearn"`` and deployed with no
entry script (``Model.deploy`` + ``LocalWebservice.deploy_configuration(workers=N)``,
``POST /score`` with ``{"data": rows}``); MLflow gets the same fitted object through
``mlflow.sklearn.save_model`` and serves it with ``mlflow models serve --env-manager local
--host 127.0.0.1 --port P --workers N`` (``POST /invocations`` with ``{"inputs": rows}``).
Each variant runs alone (one server at a time), workers = 1 and 2 for both.

Measured, per variant:

* startup: from the deploy call (aml_jupyter) or the ``mlflow models serve`` start to the
  health route answering 200 (``GET /`` / ``GET /ping``) and to the first correct prediction;
* load: CONNECTIONS keep-alive clients posting the same 6-row body (two rows of each class) as
  fast as they can for DURATION seconds after a WARMUP: requests/s, p50 and p99 latency,
  errors. Every answer is checked against the model's own predictions (a wrong answer counts
  as an error, so a broken server cannot look fast), and the CPU time the server's processes
  used per request is read from /proc.

The load comes from Debian's ``wrk`` (one thread, CONNECTIONS connections, a Lua script for the
POST body and the check of every answer) when it is installed (``apt-get install -y wrk``),
else from Python threads with ``http.client`` (which take more of the CPU the servers share
with them: compare figures from one load generator only).

On 2 cores the servers share the CPU with the load generator, so two workers cannot double
the rate; the CPU per request column is the figure that depends least on that.
With uvicorn 0.54 (what MLflow 3.17 serves with), ``--workers 2`` answers each request about
40 ms late (CPU idle; a bare FastAPI app does the same): a Nagle / delayed-ACK stall, not the
model.

Run: ``.venv/bin/python benchmarks/bench_serving.py`` (about 2 minutes on 2 cores, most of it
MLflow starting), ``--quick`` for a smoke run (shorter load).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    fmt_s,
    have_mlflow,
    header,
    percentile,
    print_table,
    temp_folder,
)

CONNECTIONS = 8
DURATION_S, WARMUP_S = 10.0, 2.0
QUICK_DURATION_S, QUICK_WARMUP_S = 3.0, 1.0
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 10.0
ROW_INDEXES = [0, 25, 50, 75, 100, 125]  # iris rows: two of each class

WRK_SCRIPT = """\
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
local expected = [==[{expected}]==]
local threads = {{}}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
  checked = 0
end

function response(status, headers, body)
  checked = checked + 1
  local text = (body:gsub("%s", ""))
  if status ~= 200 or text ~= expected then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local nbad, nchecked = 0, 0
  for _, t in ipairs(threads) do
    nbad = nbad + t:get("bad")
    nchecked = nchecked + t:get("checked")
  end
  local e = summary.errors
  io.write(string.format(
    '\\nRESULT {{"requests": %d, "duration_us": %d, "p50_us": %f, "p99_us": %f, ' ..
    '"socket_errors": %d, "non_2xx": %d, "bad": %d, "checked": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status, nbad, nchecked))
end
"""


# helpers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def squeeze(text: str) -> str:
    """The answer without whitespace: what every later answer must equal, byte for byte."""
    return re.sub(r"\s", "", text)


def post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, str]:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


def get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def group_cpu_s(pgid: int) -> float:
    """User + system CPU seconds of the live processes in process group ``pgid``."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[2]) == pgid:  # pgrp; utime and stime follow at 11 and 12
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def stop_group(pgid: int, leader: subprocess.Popen | None = None) -> None:
    """SIGTERM process group ``pgid`` (a server and its workers), SIGKILL what lingers."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + STOP_TIMEOUT_S
        while time.monotonic() < deadline:
            if leader is not None:
                leader.poll()  # reap the leader, or the group never looks empty
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            continue
        break
    if leader is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            leader.wait(STOP_TIMEOUT_S)


def check_predictions(answer: Any, expected: list[int]) -> bool:
    if isinstance(answer, dict):  # MLflow: {"predictions": [...]}
        answer = answer.get("predictions")
    return answer == expected


# the two servers ------------------------------------------------------------------------------
class AmlServer:
    """``Model.deploy`` of the registered joblib file, no entry script."""

    route = "/score"

    def __init__(self, ws: Any, model: Any, workers: int, name: str) -> None:
        self.ws, self.model, self.workers, self.name = ws, model, workers, name
        self.service: Any = None
        self.pgid: int | None = None
        self.port = 0

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps({"data": rows}).encode()

    def start(self) -> float:
        """Deploy and wait for health; returns the seconds that took."""
        from aml_jupyter import LocalWebservice, Model

        t0 = time.perf_counter()
        self.service = Model.deploy(
            self.ws,
            self.name,
            [self.model],
            inference_config=None,
            deployment_config=LocalWebservice.deploy_configuration(port=None, workers=self.workers),
        )
        healthy = time.perf_counter() - t0
        self.port = self.service.port
        self.pgid = int((self.service.folder / "pid").read_text().split()[0])
        return healthy

    def alive(self) -> bool:
        return self.service is not None and self.service.is_running()

    def stop(self) -> None:
        from aml_jupyter import LocalWebservice

        pids = []
        for service in LocalWebservice.list(self.ws):  # also one a Ctrl-C left half-deployed
            with contextlib.suppress(OSError, ValueError):
                pids.append(int((service.folder / "pid").read_text().split()[0]))
            service.delete()
        for pid in {*pids, *([self.pgid] if self.pgid else [])}:
            stop_group(pid)  # delete() stops the group; this only checks nothing is left


class MlflowServer:
    """``mlflow models serve`` of the saved model, in a process group of its own."""

    route = "/invocations"

    def __init__(self, model_dir: Path, workers: int, log_path: Path) -> None:
        self.model_dir, self.workers, self.log_path = model_dir, workers, log_path
        self.proc: subprocess.Popen | None = None
        self.pgid: int | None = None
        self.port = free_port()

    def body(self, rows: list[list[float]]) -> bytes:
        return json.dumps({"inputs": rows}).encode()

    def start(self) -> float:
        """Start the server and wait for ``/ping``; returns the seconds that took."""
        env = dict(os.environ)
        # mlflow runs `exec uvicorn ...` through a shell: the venv's bin must come first.
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        cmd = [
            sys.executable,
            "-m",
            "mlflow",
            "models",
            "serve",
            "--model-uri",
            str(self.model_dir),
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        t0 = time.perf_counter()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,  # its group: uvicorn and its workers stop with it
            )
        self.pgid = self.proc.pid
        while not get_ok(f"http://127.0.0.1:{self.port}/ping"):
            if not self.alive() or time.perf_counter() - t0 > START_TIMEOUT_S:
                raise RuntimeError(f"mlflow models serve did not start:\n{self.log_tail()}")
            time.sleep(0.05)
        return time.perf_counter() - t0

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-3000:]
        return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        if self.pgid is not None:
            stop_group(self.pgid, self.proc)


# load -----------------------------------------------------------------------------------------
def wrk_load(url: str, body: bytes, expected: str, seconds: float, folder: Path) -> dict:
    script = folder / "post.lua"
    script.write_text(WRK_SCRIPT.format(body=body.decode(), expected=expected))
    cmd = [
        "wrk",
        "-t1",
        f"-c{CONNECTIONS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
    line = next((x for x in out.stdout.splitlines() if x.startswith("RESULT ")), None)
    if line is None:
        raise RuntimeError(f"wrk failed (exit {out.returncode}):\n{out.stdout}\n{out.stderr}")
    r = json.loads(line.removeprefix("RESULT "))
    return {
        "requests": r["requests"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50": r["p50_us"] / 1e6,
        "p99": r["p99_us"] / 1e6,
        "errors": r["socket_errors"] + r["bad"],
        "checked": r["checked"],
    }


def python_load(url: str, body: bytes, expected: str, seconds: float, folder: Path) -> dict:
    """CONNECTIONS threads, one keep-alive ``http.client`` connection each."""
    port = int(url.split(":")[2].split("/")[0])
    path = "/" + url.split("/", 3)[3]
    headers = {"Content-Type": "application/json"}
    results: list[tuple[list[float], int, int]] = []
    lock = threading.Lock()
    start = threading.Barrier(CONNECTIONS + 1)
    end = [0.0]

    def client() -> None:
        latencies: list[float] = []
        errors = checked = 0
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        start.wait()
        while time.perf_counter() < end[0]:
            t0 = time.perf_counter()
            try:
                conn.request("POST", path, body, headers)
                answer = conn.getresponse()
                text = answer.read().decode(errors="replace")
            except (OSError, http.client.HTTPException):
                errors += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                continue
            latencies.append(time.perf_counter() - t0)
            checked += 1
            if answer.status != 200 or squeeze(text) != expected:
                errors += 1
        conn.close()
        with lock:
            results.append((latencies, errors, checked))

    threads = [threading.Thread(target=client) for _ in range(CONNECTIONS)]
    for t in threads:
        t.start()
    t_start = time.perf_counter()
    end[0] = t_start + seconds
    start.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t_start
    latencies = [x for lat, _, _ in results for x in lat]
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "p50": percentile(latencies, 50),
        "p99": percentile(latencies, 99),
        "errors": sum(e for _, e, _ in results),
        "checked": sum(c for _, _, c in results),
    }


# one variant ----------------------------------------------------------------------------------
def measure(
    server: AmlServer | MlflowServer,
    rows: list[list[float]],
    expected: list[int],
    load: Callable[[str, bytes, str, float, Path], dict],
    warmup_s: float,
    duration_s: float,
    folder: Path,
) -> dict:
    """Start ``server``, time its startup, load it, stop it (also on error)."""
    body = server.body(rows)
    try:
        t0 = time.perf_counter()
        healthy = server.start()
        url = f"http://127.0.0.1:{server.port}{server.route}"
        while True:  # the first correct prediction
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, text = post(url, body)
                if status == 200:
                    if not check_predictions(json.loads(text), expected):
                        raise RuntimeError(f"{url} answered wrong predictions: {text}")
                    break
            if not server.alive() or time.perf_counter() - t0 > START_TIMEOUT_S:
                raise RuntimeError(f"{url} never answered a prediction")
            time.sleep(0.02)
        first_answer = time.perf_counter() - t0
        expected_text = squeeze(text)

        warm = load(url, body, expected_text, warmup_s, folder)
        assert server.pgid is not None
        cpu0 = group_cpu_s(server.pgid)
        result = load(url, body, expected_text, duration_s, folder)
        cpu = group_cpu_s(server.pgid) - cpu0
        status, text = post(url, body)  # still up and right after the load
        result["after"] = status == 200 and squeeze(text) == expected_text
        result.update(
            healthy=healthy,
            first_answer=first_answer,
            warmup_errors=warm["errors"],
            cpu_per_request=cpu / max(1, result["requests"]),
        )
        return result
    finally:
        server.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter load: a smoke run")
    parser.add_argument(
        "--client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (auto: wrk when installed)",
    )
    args = parser.parse_args()
    warmup_s, duration_s = (
        (QUICK_WARMUP_S, QUICK_DURATION_S) if args.quick else (WARMUP_S, DURATION_S)
    )
    use_wrk = args.client == "wrk" or (args.client == "auto" and shutil.which("wrk"))
    if args.client == "wrk" and not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk, or use --client python")
        return 2
    load = wrk_load if use_wrk else python_load
    load_name = (
        f"wrk, 1 thread, {CONNECTIONS} keep-alive connections"
        if use_wrk
        else f"Python, {CONNECTIONS} threads with keep-alive http.client connections"
    )

    # A SIGTERM (run_all stopped, a CI timeout) unwinds like Ctrl-C: the servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    clean_environment()
    # Nothing outside this machine is reached on purpose: no usage reports from MLflow (they
    # would be sent from here and from the server, and wait on the network at exit).
    os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
    header("bench_serving", "a scikit-learn model served by aml_jupyter vs mlflow models serve")
    print(f"load: {load_name}; {warmup_s:g} s warm-up, then {duration_s:g} s per variant")
    if not use_wrk:
        print("note: wrk not found (apt-get install -y wrk); Python clients share the CPU.")
    print(f"load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)

    import joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    from aml_jupyter import Model, Workspace

    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    rows = [[float(v) for v in X[i]] for i in ROW_INDEXES]
    expected = [int(v) for v in model.predict(X[ROW_INDEXES])]
    assert len(set(expected)) == 3, expected  # a constant answer could never pass the check

    with temp_folder("serving") as tmp, chdir(tmp):
        ws = Workspace.create(tmp / "ws")
        joblib.dump(model, tmp / "model.joblib")
        registered = Model.register(ws, tmp / "model.joblib", "iris", model_framework="ScikitLearn")
        mlflow_dir = tmp / "mlflow-model"
        mlflow_version = None
        if have_mlflow():
            import mlflow
            import mlflow.sklearn

            mlflow_version = mlflow.__version__
            # pip_requirements given: MLflow would otherwise import every package it can find
            # to infer them (tens of seconds; setup, not measured).
            mlflow.sklearn.save_model(model, mlflow_dir, pip_requirements=["scikit-learn"])

        variants: list[tuple[str, int, Callable[[], AmlServer | MlflowServer]]] = []
        for workers in (1, 2):
            variants.append(
                (
                    "aml_jupyter",
                    workers,
                    lambda w=workers: AmlServer(ws, registered, w, f"iris-w{w}"),
                )
            )
            if mlflow_version:
                variants.append(
                    (
                        f"mlflow {mlflow_version}",
                        workers,
                        lambda w=workers: MlflowServer(mlflow_dir, w, tmp / f"mlflow-w{w}.log"),
                    )
                )

        table = []
        for name, workers, make in variants:
            print(f"  {name}, workers={workers} ...", flush=True)
            r = measure(make(), rows, expected, load, warmup_s, duration_s, tmp)
            table.append(
                [
                    name,
                    workers,
                    fmt_s(r["healthy"]),
                    fmt_s(r["first_answer"]),
                    f"{r['rps']:,.0f}",
                    fmt_ms(r["p50"]),
                    fmt_ms(r["p99"]),
                    f"{r['errors']} of {r['checked']:,}"
                    + ("" if r["after"] else " (then broken)")
                    + (f" (+{r['warmup_errors']} in warm-up)" if r["warmup_errors"] else ""),
                    fmt_ms(r["cpu_per_request"]),
                ]
            )

    print_table(
        f"POST of {len(rows)} iris rows to a LogisticRegression, {CONNECTIONS} connections, "
        f"{duration_s:g} s each ({load_name.split(',')[0]})",
        [
            "server",
            "workers",
            "start -> healthy",
            "start -> 1st answer",
            "requests/s",
            "p50",
            "p99",
            "errors (wrong answers incl.) of checked",
            "server CPU / request",
        ],
        table,
    )
    print(
        "start: aml_jupyter from the Model.deploy call, MLflow from launching `mlflow models "
        "serve`; healthy = GET / (aml_jupyter) or GET /ping (MLflow) answers 200. Every answer "
        "under load is compared with the model's own predictions."
    )
    print(f"load average after: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    import importlib.util

    import sklearn

    if not Path(importlib.util.cache_from_source(sklearn.__file__)).exists():
        print(
            "note: no .pyc files for scikit-learn here (PYTHONDONTWRITEBYTECODE?): every server "
            "compiles its imports from source as it starts, which inflates both start times."
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

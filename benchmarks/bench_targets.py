"""Submit-to-Running and submit-to-Completed of a hello-world on every target, next to the raw
mechanism a user would otherwise use, in the same run (REPS rounds, medians):

* ``local``: vs ``python hello.py``;
* ``compute-instance`` (an ``aml instance serve`` agent on 127.0.0.1): vs the same bare Python
  (the agent's own cost is the HTTP upload + mirror);
* ``cluster`` (a one-machine Ray head started here): vs a raw Ray Jobs submit of the same
  folder (``JobSubmissionClient.submit_job(entrypoint="python hello.py",
  runtime_env={"working_dir": folder})``), polled the same way.

For the cluster, also: the Ray job's own end (its ``end_time``) for both, so the table shows
aml-on-Ray's overhead at the job (submit -> SUCCEEDED) and at the run (submit -> Completed);
and a ``submit()`` from a fresh process, the package already uploaded (FRESH_REPS, medians):
ours (Ray's job API over HTTP, no ``import ray``) vs what a submit cost before (``import ray``,
``JobSubmissionClient(address).submit_job(...)`` of the same folder); with ``--before PATH``
(a folder holding an older ``aml_jupyter``, e.g. from ``git archive REV aml_jupyter``) also
that version's own fresh-process submit.

Then the cost of one request to an agent (a status poll: ``sync`` of a finished run, what the
mirror asks), over HTTP and over TLS (a second agent with a self-signed certificate, when the
``openssl`` command is there): the client's kept-alive connection vs a new connection per
request (urllib, as the client did before), POLLS requests each, interleaved.

Run: ``.venv/bin/python benchmarks/bench_targets.py`` (``--no-ray`` skips the cluster; Ray
must be installed: ``pip install 'aml-jupyter[cluster]'``).
"""

from __future__ import annotations

import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    fmt_us,
    header,
    median,
    percentile,
    print_table,
    temp_folder,
)

from aml_jupyter.compute.distributed import free_port

REPS = 5
FRESH_REPS = 5
POLL_S = 0.005
#: The raw Ray job is polled over HTTP: at POLL_S (200 requests/s) its own polling slowed the
#: 2-CPU head by ~0.8 s a job; at this rate, no more than aml's mirror asks (4 polls/s, 2 each).
RAW_POLL_S = 0.1
#: Status polls per variant for the per-request figure (in rounds of POLL_ROUND, interleaved).
POLLS = 400
POLL_ROUND = 50


def bare_python(folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "hello.py"], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - t0


def _submit_and_wait(exp: Any, folder: Path, target: str) -> tuple[Any, float, float]:
    """The run, and seconds from submit() to Running (first seen) and to Completed."""
    from aml_jupyter import RunStatus, ScriptRunConfig

    t0 = time.perf_counter()
    run = exp.submit(ScriptRunConfig(folder, "hello.py", compute_target=target))
    running = None
    while (status := run.get_status()) not in RunStatus.TERMINAL:
        if running is None and status in (RunStatus.RUNNING, RunStatus.FINALIZING):
            running = time.perf_counter() - t0
        time.sleep(POLL_S)
    done = time.perf_counter() - t0
    assert status == RunStatus.COMPLETED, run.get_details()
    return run, (running if running is not None else done), done


def submit(exp: Any, folder: Path, target: str) -> tuple[float, float]:
    """Seconds from submit() to Running (first seen) and to Completed."""
    _, running, done = _submit_and_wait(exp, folder, target)
    return running, done


def job_end(address: str, job_id: str, wall0: float) -> float:
    """Seconds from ``wall0`` (time.time() at submit) to the Ray job's own end_time."""
    with urllib.request.urlopen(f"{address}/api/jobs/{job_id}", timeout=30) as answer:
        info = json.loads(answer.read())
    assert info["status"] == "SUCCEEDED", info
    return float(info["end_time"]) / 1000 - wall0


def submit_ray(exp: Any, folder: Path, address: str) -> tuple[float, float, float]:
    """Seconds from submit() to Running, to Completed, and to the Ray job's SUCCEEDED."""
    wall0 = time.time()
    run, running, done = _submit_and_wait(exp, folder, "ray")
    deadline = time.monotonic() + 30
    while True:  # the driver exits just after the run's end frame
        try:
            return running, done, job_end(address, run.id, wall0)
        except AssertionError:
            assert time.monotonic() < deadline
            time.sleep(POLL_S)


FRESH_OURS = """
import sys, time
t0 = time.perf_counter()
from aml_jupyter import Experiment, ScriptRunConfig, Workspace
exp = Experiment(Workspace(sys.argv[1]), "targets")
t1 = time.perf_counter()
exp.submit(ScriptRunConfig(sys.argv[2], "hello.py", compute_target="ray"))
t2 = time.perf_counter()
assert "ray" not in sys.modules or sys.argv[3] == "before"
print(t1 - t0, t2 - t1)
"""

FRESH_RAY = """
import sys, time
t0 = time.perf_counter()
import logging
from ray.job_submission import JobSubmissionClient
logging.getLogger("ray.dashboard.modules.dashboard_sdk").setLevel(logging.WARNING)
t1 = time.perf_counter()
JobSubmissionClient(sys.argv[1]).submit_job(
    entrypoint="python hello.py", runtime_env={"working_dir": sys.argv[2]}, entrypoint_num_cpus=1
)
print(t1 - t0, time.perf_counter() - t1)
"""


def fresh_submits(root: Path, project: Path, address: str, before: str | None) -> list[list[str]]:
    """Seconds of a submit from a new process: its imports, the submit() call, the process."""
    variants = {
        "aml submit() (HTTP, no import ray)": (FRESH_OURS, [str(root), str(project), "now"], None),
        "raw: import ray + JobSubmissionClient.submit_job": (
            FRESH_RAY, [address, str(project)], None
        ),
    }  # fmt: skip
    if before:
        variants["aml submit(), --before version (JobSubmissionClient)"] = (
            FRESH_OURS, [str(root), str(project), "before"], before
        )  # fmt: skip
    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in variants}
    for _ in range(FRESH_REPS):
        for name, (code, args, path) in variants.items():
            env = dict(os.environ)
            if path:
                env["PYTHONPATH"] = path
            t0 = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True
            )
            wall = time.perf_counter() - t0
            assert done.returncode == 0, done.stderr[-2000:]
            imports, call = (float(x) for x in done.stdout.split())
            times[name].append((imports, call, wall))
    return [
        [name, *(fmt_ms(median([t[i] for t in values])) for i in range(3))]
        for name, values in times.items()
    ]


def raw_ray(client: Any, folder: Path) -> tuple[float, float, float]:
    """The same folder as a raw Ray job: seconds to RUNNING, to SUCCEEDED (seen), and to its
    own end_time."""
    wall0, t0 = time.time(), time.perf_counter()
    job = client.submit_job(
        entrypoint="python hello.py",
        runtime_env={"working_dir": str(folder)},
        entrypoint_num_cpus=1,
    )
    running = None
    while (status := str(client.get_job_status(job))) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        if running is None and status == "RUNNING":
            running = time.perf_counter() - t0
        time.sleep(RAW_POLL_S)
    done = time.perf_counter() - t0
    assert status == "SUCCEEDED", client.get_job_logs(job)
    return (
        (running if running is not None else done),
        done,
        job_end(client.get_address(), job, wall0),
    )


def start_agent(
    folder: Path, name: str = "agent", tls: tuple[Path, Path] | None = None
) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    token_file = folder / f"{name}.token"
    command = [sys.executable, "-m", "aml_jupyter", "instance", "serve", "--port", str(port),
               "--folder", str(folder / name), "--token-file", str(token_file)]  # fmt: skip
    if tls:
        command += ["--certfile", str(tls[0]), "--keyfile", str(tls[1])]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert "aml agent serving" in line, line
    return proc, f"{'https' if tls else 'http'}://127.0.0.1:{port}", token_file.read_text().strip()


def request_cost(
    exp: Any, folder: Path, agents: dict[str, tuple[str, str, str | None]]
) -> list[list[str]]:
    """Seconds per status poll of a finished run on each agent (``{target: (address, token,
    CA file)}``): the kept-alive client vs a new connection (urllib) per request."""
    from aml_jupyter import ScriptRunConfig

    try:
        from aml_jupyter.compute.instance.client import AgentClient
    except ImportError:  # an older aml_jupyter (benchmarked for a before/after): no figure
        return []
    variants: dict[str, Any] = {}
    clients = []
    for target, (address, token, ca) in agents.items():
        run = exp.submit(ScriptRunConfig(folder, "hello.py", compute_target=target))
        run.wait_for_completion()
        scheme = address.split(":")[0]
        context = ssl.create_default_context(cafile=ca)
        request = urllib.request.Request(
            f"{address}/api/v1/runs/{run.id}/sync",
            data=json.dumps({"offsets": {}, "status": None, "wait": 0}).encode(),
            method="POST",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        )

        def new_connection(request: Any = request, context: Any = context) -> None:
            with urllib.request.urlopen(request, timeout=30, context=context) as answer:
                json.loads(answer.read())

        client = AgentClient(address, token, ca_file=ca)
        clients.append(client)
        variants[f"{scheme}: new connection per request (urllib)"] = new_connection
        variants[f"{scheme}: kept-alive client (AgentClient)"] = (
            lambda client=client, run_id=run.id: client.sync(run_id, {}, None, 0)
        )
    times: dict[str, list[float]] = {name: [] for name in variants}
    for fn in variants.values():
        for _ in range(20):
            fn()  # warm-up
    for _ in range(POLLS // POLL_ROUND):
        for name, fn in variants.items():
            for _ in range(POLL_ROUND):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    for client in clients:
        client.close()
    return [
        [name, fmt_us(median(values)), fmt_us(percentile(values, 90))]
        for name, values in times.items()
    ]


def self_signed(folder: Path) -> tuple[Path, Path] | None:
    """A certificate for 127.0.0.1 and its key (None without the openssl command)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
               "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
               "-keyout", str(key), "-out", str(cert)]  # fmt: skip
    try:
        subprocess.run(command, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return cert, key


def main() -> int:
    clean_environment()
    header(
        "bench_targets", "submit -> Running / Completed per compute target, vs the raw mechanism"
    )
    use_ray = "--no-ray" not in sys.argv
    before = sys.argv[sys.argv.index("--before") + 1] if "--before" in sys.argv else None
    from aml_jupyter import ComputeCluster, ComputeInstance, Experiment, Workspace

    with temp_folder("targets") as root, chdir(root):
        if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
            # As a normal install has: compiled bytecode, kept (in a temp folder of ours).
            os.environ["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
            print("bytecode cache: on, in a temp folder (PYTHONPYCACHEPREFIX)")
        project = root / "project"
        project.mkdir()
        (project / "hello.py").write_text("print('hello')\n")
        ws = Workspace.create(root)
        exp = Experiment(ws, "targets")
        agent, address, token = start_agent(root)
        tls_agent = head = None
        results: dict[str, list[tuple[float, ...]]] = {}
        try:
            ComputeInstance.attach(ws, "box", address, token)
            variants: dict[str, Any] = {
                "python hello.py": lambda: (None, bare_python(project)),
                "local": lambda: submit(exp, project, "local"),
                "compute-instance (agent, 127.0.0.1)": lambda: submit(exp, project, "box"),
            }
            if use_ray:
                from ray.job_submission import JobSubmissionClient

                from aml_jupyter.compute.cluster.ray_local import LocalRayHead

                head = LocalRayHead(num_cpus=2)
                t0 = time.perf_counter()
                ray_address = head.start()
                print(f"Ray head started in {fmt_ms(time.perf_counter() - t0)}")
                ComputeCluster.attach(ws, "ray", ray_address)
                client = JobSubmissionClient(ray_address)
                variants["raw Ray job (submit_job, working_dir)"] = lambda: raw_ray(client, project)
                variants["cluster (aml on Ray)"] = lambda: submit_ray(exp, project, ray_address)
            for fn in variants.values():
                fn()  # warm-up: caches, first upload of a package, imports
            for _ in range(REPS):
                for name, fn in variants.items():
                    results.setdefault(name, []).append(fn())
            agents: dict[str, tuple[str, str, str | None]] = {"box": (address, token, None)}
            tls = self_signed(root)
            if tls:
                tls_agent, tls_address, tls_token = start_agent(root, "tls-agent", tls)
                ComputeInstance.attach(ws, "tls-box", tls_address, tls_token, str(tls[0]))
                agents["tls-box"] = (tls_address, tls_token, str(tls[0]))
            polls = request_cost(exp, project, agents)
            fresh = fresh_submits(root, project, ray_address, before) if head else []
        finally:
            for proc in (agent, tls_agent):
                if proc is not None:
                    proc.terminate()
                    proc.wait(timeout=10)
            if head is not None:
                head.stop()
    base = median([v[1] for v in results["python hello.py"]])
    raw_name = "raw Ray job (submit_job, working_dir)"
    raw = [median([v[i] for v in results[raw_name]]) for i in (1, 2)] if raw_name in results else []
    rows = []
    for name, values in results.items():
        running = [v[0] for v in values if v[0] is not None]
        done = median([v[1] for v in values])
        job = median([v[2] for v in values]) if len(values[0]) > 2 else None
        if name == "python hello.py" or name.startswith("raw"):
            over = "-"
        elif "aml on Ray" in name:  # at the job's end and at the run's
            assert job is not None
            over = f"job {fmt_ms(job - raw[1])}, run {fmt_ms(done - raw[0])}"
        else:
            over = fmt_ms(done - base)
        rows.append(
            [
                name,
                fmt_ms(median(running)) if running else "-",
                fmt_ms(done),
                fmt_ms(job) if job is not None else "-",
                over,
            ]
        )
    print_table(
        f"median of {REPS} (overhead: vs bare python; for aml on Ray: vs the raw Ray job)",
        ["target", "submit -> Running", "submit -> Completed", "submit -> Ray job end", "overhead"],
        rows,
    )
    if fresh:
        print_table(
            f"submit from a fresh process to the Ray head, package uploaded (median of {FRESH_REPS})",
            ["what", "imports", "submit call", "process wall"],
            fresh,
        )
    if polls:
        print_table(
            f"one status poll of an agent (sync of a finished run, 127.0.0.1), {POLLS} each",
            ["transport", "median", "p90"],
            polls,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

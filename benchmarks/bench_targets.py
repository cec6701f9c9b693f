"""Submit-to-Running and submit-to-Completed of a hello-world on every target, next to the raw
mechanism a user would otherwise use, in the same run (REPS rounds, medians):

* ``local``: vs ``python hello.py``;
* ``compute-instance`` (an ``aml instance serve`` agent on 127.0.0.1): vs the same bare Python
  (the agent's own cost is the HTTP upload + mirror);
* ``cluster`` (a one-machine Ray head started here): vs a raw Ray Jobs submit of the same
  folder (``JobSubmissionClient.submit_job(entrypoint="python hello.py",
  runtime_env={"working_dir": folder})``), polled the same way.

Run: ``.venv/bin/python benchmarks/bench_targets.py`` (``--no-ray`` skips the cluster; Ray
must be installed: ``pip install 'aml-jupyter[cluster]'``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chdir, clean_environment, fmt_ms, header, median, print_table, temp_folder

from aml_jupyter.compute.distributed import free_port

REPS = 5
POLL_S = 0.005


def bare_python(folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "hello.py"], cwd=folder, check=True, capture_output=True)
    return time.perf_counter() - t0


def submit(exp: Any, folder: Path, target: str) -> tuple[float, float]:
    """Seconds from submit() to Running (first seen) and to Completed."""
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
    return (running if running is not None else done), done


def raw_ray(client: Any, folder: Path) -> tuple[float, float]:
    """The same folder as a raw Ray job: seconds to RUNNING and to SUCCEEDED."""
    t0 = time.perf_counter()
    job = client.submit_job(
        entrypoint="python hello.py",
        runtime_env={"working_dir": str(folder)},
        entrypoint_num_cpus=1,
    )
    running = None
    while (status := str(client.get_job_status(job))) not in ("SUCCEEDED", "FAILED", "STOPPED"):
        if running is None and status == "RUNNING":
            running = time.perf_counter() - t0
        time.sleep(POLL_S)
    done = time.perf_counter() - t0
    assert status == "SUCCEEDED", client.get_job_logs(job)
    return (running if running is not None else done), done


def start_agent(folder: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    port = free_port()
    token_file = folder / "agent.token"
    proc = subprocess.Popen(
        [sys.executable, "-m", "aml_jupyter", "instance", "serve", "--port", str(port),
         "--folder", str(folder / "agent"), "--token-file", str(token_file)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline().decode()
    assert "aml agent serving" in line, line
    return proc, f"http://127.0.0.1:{port}", token_file.read_text().strip()


def main() -> int:
    clean_environment()
    header(
        "bench_targets", "submit -> Running / Completed per compute target, vs the raw mechanism"
    )
    use_ray = "--no-ray" not in sys.argv
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
        head = None
        results: dict[str, list[tuple[float, float]]] = {}
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
                variants["cluster (aml on Ray)"] = lambda: submit(exp, project, "ray")
            for fn in variants.values():
                fn()  # warm-up: caches, first upload of a package, imports
            for _ in range(REPS):
                for name, fn in variants.items():
                    results.setdefault(name, []).append(fn())
        finally:
            agent.terminate()
            agent.wait(timeout=10)
            if head is not None:
                head.stop()
    base = median([d for _, d in results["python hello.py"]])
    raw = median([d for _, d in results.get("raw Ray job (submit_job, working_dir)", [(0, 0)])])
    rows = []
    for name, values in results.items():
        running = [r for r, _ in values if r is not None]
        done = median([d for _, d in values])
        over = done - (raw if "aml on Ray" in name else base)
        rows.append(
            [
                name,
                fmt_ms(median(running)) if running else "-",
                fmt_ms(done),
                "-" if name == "python hello.py" or name.startswith("raw") else fmt_ms(over),
            ]
        )
    print_table(
        f"median of {REPS} (overhead: vs bare python; for aml on Ray: vs the raw Ray job)",
        ["target", "submit -> Running", "submit -> Completed", "overhead"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where aml-on-Ray's overhead over a raw Ray job goes, step by step, on one Ray head.

Each variant is a hello-world Ray job of the same folder; the figure is Ray's own
``end_time - start_time`` of the job (its clock, so the client's polling is not in it),
median of REPS, the variants alternated:

1. raw: ``python hello.py`` with ``runtime_env={"working_dir": folder}`` (what a Ray user
   submits);
2. raw + aml_jupyter's package: the same with ``py_modules=[the package aml ships]``: Ray's
   cost for the code that has to reach the node;
3. aml's driver alone: aml's own entrypoint and runtime_env, taken from a job aml submitted,
   submitted again raw: the driver (a scratch workspace, the run, its frames) without the
   submit path;
4. aml ``submit()``: the whole path, to the job's end (the mirror following it included).

So 2 - 1 is Ray's packaging, 3 - 2 the driver, 4 - 3 the submit side.

Run: ``.venv/bin/python benchmarks/bench_ray_overhead.py`` (Ray must be installed).
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import chdir, clean_environment, fmt_ms, header, median, print_table, temp_folder

REPS = 7


def job_info(address: str, job_id: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{address}/api/jobs/{job_id}", timeout=30) as answer:
        info: dict[str, Any] = json.loads(answer.read())
    return info


def wait_job(address: str, job_id: str, wall0: float) -> tuple[float, float]:
    """Seconds Ray says the job took (end_time - start_time), and from ``wall0`` (the
    submit call's time.time()) to its end_time, once it ended SUCCEEDED."""
    deadline = time.monotonic() + 120
    while True:
        info = job_info(address, job_id)
        if info["status"] in ("SUCCEEDED", "FAILED", "STOPPED") and info.get("end_time"):
            assert info["status"] == "SUCCEEDED", info
            end = float(info["end_time"]) / 1000
            return end - float(info["start_time"]) / 1000, end - wall0
        assert time.monotonic() < deadline, info
        time.sleep(0.05)


def driver_times(run: Any) -> tuple[float, float]:
    """From the run's system log: seconds from the driver's process start to its first frame
    (Python, imports, the scratch workspace), and from its main() to the run's end."""
    with temp_folder("ray-log") as folder:
        run.download_file("system_logs/ray_job.txt", str(folder / "log.txt"))
        text = (folder / "log.txt").read_text()
    up = re.search(r"Driver up ([0-9.]+) s", text)
    ended = re.search(r"Run ended ([0-9.]+) s", text)
    return (float(up.group(1)) if up else -1.0, float(ended.group(1)) if ended else -1.0)


def main() -> int:
    clean_environment()
    header("bench_ray_overhead", "aml-on-Ray's job overhead, split: Ray packaging, driver, submit")
    from ray.job_submission import JobSubmissionClient

    from aml_jupyter import ComputeCluster, Experiment, ScriptRunConfig, Workspace
    from aml_jupyter.compute.cluster.ray_local import LocalRayHead

    with temp_folder("ray-overhead") as root, chdir(root):
        if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
            os.environ["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        project = root / "project"
        project.mkdir()
        (project / "hello.py").write_text("print('hello')\n")
        ws = Workspace.create(root)
        exp = Experiment(ws, "overhead")
        head = LocalRayHead(num_cpus=2)
        address = head.start()
        try:
            ComputeCluster.attach(ws, "ray", address)
            client = JobSubmissionClient(address)

            drivers: list[tuple[float, float]] = []

            def aml_submit() -> tuple[float, float]:
                wall0 = time.time()
                run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="ray"))
                run.wait_for_completion()
                drivers.append(driver_times(run))
                return wait_job(address, run.id, wall0)

            run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="ray"))
            run.wait_for_completion()
            wait_job(address, run.id, 0)
            theirs = job_info(address, run.id)
            module = theirs["runtime_env"]["py_modules"]

            def raw(extra: dict[str, Any]) -> tuple[float, float]:
                wall0 = time.time()
                env = {"working_dir": str(project), **extra}
                job = client.submit_job(
                    entrypoint="python hello.py", runtime_env=env, entrypoint_num_cpus=1
                )
                return wait_job(address, job, wall0)

            # What aml sent (the job API echoes more fields, which would make Ray set up a
            # new runtime env each time).
            sent = {k: theirs["runtime_env"][k] for k in ("working_dir", "py_modules", "env_vars")}

            def driver_alone() -> tuple[float, float]:
                wall0 = time.time()
                job = client.submit_job(
                    entrypoint=theirs["entrypoint"], runtime_env=sent, entrypoint_num_cpus=1
                )
                return wait_job(address, job, wall0)

            variants = {
                "1. raw Ray job (working_dir)": lambda: raw({}),
                "2. raw + aml_jupyter as py_modules": lambda: raw({"py_modules": module}),
                "3. aml's driver alone (its entrypoint, raw submit)": driver_alone,
                "4. aml submit() (whole path)": aml_submit,
            }
            for fn in variants.values():
                fn()  # warm-up
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in variants}
            for _ in range(REPS):
                for name, fn in variants.items():
                    times[name].append(fn())
        finally:
            head.stop()
    first = times["1. raw Ray job (working_dir)"]
    base = [median([t[i] for t in first]) for i in (0, 1)]
    rows = []
    for name, values in times.items():
        job, whole = (median([t[i] for t in values]) for i in (0, 1))
        rows.append(
            [name, fmt_ms(job), fmt_ms(job - base[0]), fmt_ms(whole), fmt_ms(whole - base[1])]
        )
    print_table(
        f"inside aml's driver (its system log), median of {len(drivers)}",
        ["step", "time"],
        [
            [
                "process start -> first frame (Python, imports, workspace)",
                fmt_ms(median([d[0] for d in drivers])),
            ],
            ["main() -> run ended (script included)", fmt_ms(median([d[1] for d in drivers]))],
        ],
    )
    print_table(
        f"a hello job on a one-machine Ray head, median of {REPS}",
        ["job", "Ray's job time", "over raw", "submit call -> job end", "over raw"],
        rows,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

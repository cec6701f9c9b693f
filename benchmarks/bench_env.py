"""Environments: building one with uv vs venv + pip, resolving a built one, running in one.

Setup: a workspace in a temp folder; the spec is three small pure-Python packages from PyPI
(``six``, ``tomli``, ``packaging``). Package caches are warm for both tools (one unmeasured
build each first), so the figures compare the tools' own work, not the network.

Measured:

* build time of the same spec: ``uv venv`` + ``uv pip install`` (what aml_jupyter does) vs
  ``python -m venv`` + ``pip install`` (what a user would do by hand); median of REPS;
* resolving a built environment at submit and in the supervisor (``envbuild.check`` +
  ``envbuild.resolve``): median and p95 of 200 calls; goal <= 50 ms;
* submit -> Completed of a hello-world script through the Python API, with the cached
  environment vs with no environment (the submitting interpreter); median of REPS.

Run: ``.venv/bin/python benchmarks/bench_env.py`` (about a minute).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    header,
    median,
    percentile,
    print_table,
    temp_folder,
    verdict,
)

PACKAGES = ["six", "tomli", "packaging"]
REPS = 5
GOAL_S = 0.050


def build_uv(spec: dict, folder: Path) -> float:
    from aml_jupyter.compute import envbuild

    folder.parent.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    with open(folder.parent / "build.log", "w") as log:
        envbuild._build(folder, spec, log)
    return time.perf_counter() - t0


def build_pip(folder: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    subprocess.run(
        [str(folder / "bin" / "python"), "-m", "pip", "install", "--quiet", *PACKAGES],
        check=True,
    )
    return time.perf_counter() - t0


def main() -> None:
    clean_environment()
    header("bench_env", "environments: uv build, cached resolve, runs in a built environment")
    from aml_jupyter import Environment, Experiment, ScriptRunConfig, Workspace
    from aml_jupyter.compute import envbuild

    with temp_folder("env") as tmp, chdir(tmp):
        ws = Workspace.create(tmp)
        env = Environment("bench")
        for p in PACKAGES:
            env.python.conda_dependencies.add_pip_package(p)
        spec = env._spec()

        uv_times, pip_times = [], []
        for i in range(REPS + 1):  # the first of each warms the caches
            with tempfile.TemporaryDirectory(dir=tmp) as scratch:
                t_uv = build_uv(spec, Path(scratch) / "uv" / "env")
                t_pip = build_pip(Path(scratch) / "pip")
            if i:
                uv_times.append(t_uv)
                pip_times.append(t_pip)

        log = tmp / "resolve.log"
        envbuild.resolve(ws.folder, spec, log)  # build it in the workspace once
        resolve_times = []
        for _ in range(200):
            t0 = time.perf_counter()
            envbuild.check(ws.folder, spec)
            envbuild.resolve(ws.folder, spec, log)
            resolve_times.append(time.perf_counter() - t0)

        project = tmp / "project"
        project.mkdir()
        (project / "hello.py").write_text("print('hello')\n")
        exp = Experiment(ws, "bench")
        with_env, without = [], []
        for _ in range(REPS):
            for environment, out in ((env, with_env), (None, without)):
                t0 = time.perf_counter()
                run = exp.submit(ScriptRunConfig(project, "hello.py", environment=environment))
                run.wait_for_completion()
                out.append(time.perf_counter() - t0)
        shutil.rmtree(ws.folder / "envs", ignore_errors=True)

    print_table(
        f"environment of {len(PACKAGES)} packages ({', '.join(PACKAGES)}), warm caches",
        ["what", "aml_jupyter (uv)", "venv + pip", "goal"],
        [
            [
                f"build (median of {REPS})",
                fmt_ms(median(uv_times)),
                fmt_ms(median(pip_times)),
                f"{median(pip_times) / median(uv_times):.1f}x faster",
            ],
            [
                "resolve a built environment (median / p95 of 200)",
                f"{fmt_ms(median(resolve_times))} / {fmt_ms(percentile(resolve_times, 95))}",
                "-",
                f"<= 50 ms: {verdict(median(resolve_times), GOAL_S)}",
            ],
            [
                f"hello world submit -> Completed (median of {REPS})",
                f"{fmt_ms(median(with_env))} in the cached env",
                f"{fmt_ms(median(without))} with no env",
                "",
            ],
        ],
    )


if __name__ == "__main__":
    main()

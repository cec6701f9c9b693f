"""Docker environments: building an environment's image, resolving a built one, running in one.

Setup: a workspace in a temp folder and a docker engine with the base image (``make docker``);
without them the benchmark says so and measures nothing. The spec is three small pure-Python
packages from PyPI (``six``, ``tomli``, ``packaging``); uv's cache is warm (one unmeasured
build first), so the build figure is aml_jupyter's and the engine's work, not the network.

Measured:

* image build (probe the base image's Python, uv install on the host, ``docker build`` of one
  COPY layer): median of REPS, the image removed between builds;
* resolving a built image at submit and in the supervisor (``envbuild.check`` +
  ``envbuild.resolve``, a few engine API calls each): median and p95 of 50 calls, and the
  first resolve in a fresh process (the supervisor's case: it imports the docker SDK first);
* submit -> Completed of a hello-world script through the Python API in the cached image, vs
  ``docker run --rm`` of the same image running the same print, vs a local run with no
  environment; median of REPS, interleaved.

Run: ``.venv/bin/python benchmarks/bench_docker.py`` (about a minute).
"""

from __future__ import annotations

import subprocess
import sys
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
)

PACKAGES = ["six", "tomli", "packaging"]
REPS = 5


def main() -> int:
    clean_environment()
    header("bench_docker", "docker environments: image build, cached resolve, runs in containers")
    from aml_jupyter import AmlError, Environment, Experiment, ScriptRunConfig, Workspace
    from aml_jupyter.compute import dockerenv, envbuild

    env = Environment("bench-docker")
    env.docker.enabled = True
    for p in PACKAGES:
        env.python.conda_dependencies.add_pip_package(p)
    spec = env._spec()
    try:
        envbuild.check(Path("/nonexistent"), spec)
    except AmlError as exc:
        print(f"skipped: {exc}")
        return 0
    engine = dockerenv.client()
    image = dockerenv.image_name(spec)

    def remove_image() -> None:
        if dockerenv._find(engine, image) is not None:
            engine.images.remove(image, force=True)

    with temp_folder("docker") as tmp, chdir(tmp):
        ws = Workspace.create(tmp)
        log = tmp / "build.log"
        builds = []
        try:
            for i in range(REPS + 1):  # the first warms uv's cache
                remove_image()
                t0 = time.perf_counter()
                envbuild.resolve(ws.folder, spec, log)
                if i:
                    builds.append(time.perf_counter() - t0)

            resolves = []
            for _ in range(50):
                t0 = time.perf_counter()
                envbuild.check(ws.folder, spec)
                envbuild.resolve(ws.folder, spec, log)
                resolves.append(time.perf_counter() - t0)

            # What the supervisor pays, in a fresh process: importing the docker SDK + the calls.
            code = "from aml_jupyter.compute import envbuild"
            call = f"; envbuild.resolve(Path({str(ws.folder)!r}), {spec!r}, Path({str(log)!r}))"
            fresh, bare = [], []
            for _ in range(REPS):
                for argv, out in ((f"from pathlib import Path; {code}{call}", fresh), (code, bare)):
                    t0 = time.perf_counter()
                    subprocess.run([sys.executable, "-c", argv], check=True)
                    out.append(time.perf_counter() - t0)

            project = tmp / "project"
            project.mkdir()
            (project / "hello.py").write_text("print('hello')\n")
            exp = Experiment(ws, "bench")
            in_docker, raw, local = [], [], []
            raw_cmd = ["docker", "run", "--rm", image, "python3", "-c", "print('hello')"]
            for _ in range(REPS):
                t0 = time.perf_counter()
                run = exp.submit(ScriptRunConfig(project, "hello.py", environment=env))
                status = run.wait_for_completion()["status"]
                in_docker.append(time.perf_counter() - t0)
                assert status == "Completed", run.read_log()
                t0 = time.perf_counter()
                subprocess.run(raw_cmd, check=True, capture_output=True)
                raw.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                exp.submit(ScriptRunConfig(project, "hello.py")).wait_for_completion()
                local.append(time.perf_counter() - t0)
        finally:
            remove_image()

    print_table(
        f"docker environment of {len(PACKAGES)} packages ({', '.join(PACKAGES)}), "
        f"base image {dockerenv.base_image(spec)}",
        ["what", "aml_jupyter", "reference"],
        [
            [f"image build (median of {REPS}, warm uv cache)", fmt_ms(median(builds)), "-"],
            [
                "resolve a built image: check + resolve (median / p95 of 50)",
                f"{fmt_ms(median(resolves))} / {fmt_ms(percentile(resolves, 95))}",
                "-",
            ],
            [
                f"resolve a built image in a fresh process (median of {REPS})",
                fmt_ms(median(fresh) - median(bare)),
                "over importing aml_jupyter.environments.build",
            ],
            [
                f"hello world submit -> Completed, cached image (median of {REPS})",
                fmt_ms(median(in_docker)),
                f"{fmt_ms(median(raw))} docker run --rm; {fmt_ms(median(local))} local, no env",
            ],
            [
                "overhead over docker run --rm",
                fmt_ms(median(in_docker) - median(raw)),
                "",
            ],
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

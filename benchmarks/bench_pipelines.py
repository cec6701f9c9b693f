"""Pipelines on the local target: what reuse saves, and what a step costs to start.

Measured (REPS rounds each, medians):

* a 10-step chain (each step reads the one before's PipelineData) where every step is reused:
  ``pipeline.submit(...)`` -> Completed, beside running the 10 scripts again with bare Python
  (what a user without step reuse does; Azure ML v1 could not run a pipeline locally at all,
  and its reused pipelines took minutes on its service). Goal: <= 0.5 s.
* 4 independent 2-second steps on this machine's CPUs, beside running them one after another
  (8 s): side by side they take ~4 s on 2 CPUs.
* the start overhead of one step: a 1-step pipeline with ``regenerate_outputs=True``
  (submit -> Completed) beside a plain ``ScriptRunConfig`` run of the same script, and the
  10-step chain run fresh, per step.

Bytecode: with ``PYTHONDONTWRITEBYTECODE`` set here, every process would compile aml_jupyter
again; the figures are taken with a bytecode cache in a temp folder (``PYTHONPYCACHEPREFIX``),
as a normal install has. Run: ``.venv/bin/python benchmarks/bench_pipelines.py``.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_environment, fmt_ms, header, median, print_table, temp_folder, verdict

REPS = 5
STEPS = 10
GOAL_S = 0.5
STEP_SCRIPT = """\
import pathlib, sys
inp = sys.argv[1] if len(sys.argv) > 2 else None
out = pathlib.Path(sys.argv[-1])
text = (pathlib.Path(inp) / "v.txt").read_text() if inp else "0"
(out / "v.txt").write_text(str(int(text) + 1))
"""


def chain(ws, src: Path, steps: int):  # type: ignore[no-untyped-def]
    from aml_jupyter import Pipeline, PipelineData, PythonScriptStep

    previous = None
    last = None
    for i in range(steps):
        out = PipelineData(f"d{i}")
        args = [previous, out] if previous is not None else [out]
        last = PythonScriptStep(
            "step.py",
            name=f"s{i}",
            arguments=args,
            inputs=[previous] if previous is not None else [],
            outputs=[out],
            source_directory=src,
        )
        previous = out
    return Pipeline(ws, [last])


def timed_pipeline(ws, src: Path, steps: int, regenerate: bool) -> float:  # type: ignore[no-untyped-def]
    pipeline = chain(ws, src, steps)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = pipeline.submit("bench", regenerate_outputs=regenerate)
        status = run.wait_for_completion(show_output=False)
    took = time.perf_counter() - start
    assert status == "Completed", status
    return took


def timed_script_run(ws, src: Path) -> float:  # type: ignore[no-untyped-def]
    from aml_jupyter import Experiment, ScriptRunConfig

    out = src / "plain-out"
    out.mkdir(exist_ok=True)
    start = time.perf_counter()
    run = Experiment(ws, "plain").submit(ScriptRunConfig(str(src), "step.py", arguments=[str(out)]))
    run.wait_for_completion()
    return time.perf_counter() - start


def timed_parallel(ws, src: Path, count: int) -> float:  # type: ignore[no-untyped-def]
    from aml_jupyter import Pipeline, PythonScriptStep

    (src / "nap.py").write_text("import time\ntime.sleep(2)\n")
    steps = [
        PythonScriptStep("nap.py", name=f"nap{i}", arguments=[str(i)], source_directory=src)
        for i in range(count)
    ]
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        run = Pipeline(ws, steps).submit("parallel", regenerate_outputs=True)
        assert run.wait_for_completion(show_output=False) == "Completed"
    return time.perf_counter() - start


def timed_bare(src: Path, steps: int) -> float:
    start = time.perf_counter()
    previous = None
    for i in range(steps):
        out = src / "bare" / str(i)
        out.mkdir(parents=True, exist_ok=True)
        args = [str(previous), str(out)] if previous else [str(out)]
        subprocess.run([sys.executable, str(src / "step.py"), *args], check=True)
        previous = out
    return time.perf_counter() - start


def main() -> None:
    clean_environment()
    header("bench_pipelines", "pipelines on local: all-reused submit, step start overhead")
    with temp_folder("pipelines") as tmp:
        os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
        os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        from aml_jupyter import Workspace

        ws = Workspace.create(tmp / "ws")
        src = tmp / "src"
        src.mkdir()
        (src / "step.py").write_text(STEP_SCRIPT)
        fresh = [timed_pipeline(ws, src, STEPS, regenerate=True)]  # also warms the caches
        timed_script_run(ws, src)
        reused, bare, one_step, plain = [], [], [], []
        for _ in range(REPS):
            reused.append(timed_pipeline(ws, src, STEPS, regenerate=False))
            bare.append(timed_bare(src, STEPS))
            one_step.append(timed_pipeline(ws, src, 1, regenerate=True))
            plain.append(timed_script_run(ws, src))
        for _ in range(2):
            fresh.append(timed_pipeline(ws, src, STEPS, regenerate=True))
        parallel = timed_parallel(ws, src, 4)
        print_table(
            f"{STEPS}-step chain, every step reused: submit -> Completed (median of {REPS})",
            ["variant", "time", f"goal <= {GOAL_S} s"],
            [
                [
                    "aml_jupyter pipeline, all reused",
                    fmt_ms(median(reused)),
                    verdict(median(reused), GOAL_S),
                ],
                [f"bare python, the {STEPS} scripts again", fmt_ms(median(bare)), ""],
            ],
        )
        per_step = median(fresh[1:]) / STEPS
        print_table(
            "Step start overhead: submit -> Completed of one small script",
            ["variant", "time"],
            [
                ["1-step pipeline, regenerate_outputs=True", fmt_ms(median(one_step))],
                ["plain ScriptRunConfig run", fmt_ms(median(plain))],
                ["pipeline overhead over the plain run", fmt_ms(median(one_step) - median(plain))],
                [f"{STEPS}-step chain run fresh, per step", fmt_ms(per_step)],
            ],
        )
        print_table(
            f"4 independent 2-second steps, {os.cpu_count()} CPUs: submit -> Completed",
            ["variant", "time"],
            [
                ["aml_jupyter pipeline (side by side)", fmt_ms(parallel)],
                ["one after another (4 x 2 s of sleep alone)", fmt_ms(8.0)],
            ],
        )


if __name__ == "__main__":
    main()

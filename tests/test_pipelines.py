"""Pipelines on the local target: a real orchestrator process, real step supervisors and
scripts, data passed between steps in the workspace's datastore folder."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from aml_jupyter import (
    ActivityFailedException,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Run,
    RunStatus,
    StepSequence,
    Workspace,
)
from aml_jupyter.compute.local import liveness
from aml_jupyter.workflows.pipelines import PipelineRun
from tests.conftest import wait_status, write

ROOT = Path(__file__).resolve().parents[1]

PREPARE = """
    import os, sys, pathlib
    out = pathlib.Path(sys.argv[1])
    assert out.is_dir(), "the output folder is made for the script"
    assert os.environ["AZUREML_DATAREFERENCE_prepared"] == str(out)
    scale = int(sys.argv[2])
    (out / "rows.txt").write_text(" ".join(str(i * scale) for i in range(5)))
    print("prepared", scale)
"""
TRAIN = """
    import os, sys, pathlib
    rows = pathlib.Path(sys.argv[1]) / "rows.txt"
    total = sum(int(x) for x in rows.read_text().split())
    (pathlib.Path(sys.argv[2]) / "model.txt").write_text(f"model {total}")
    print("trained on", total, "lr", os.environ["AML_PARAMETER_lr"])
"""
EVALUATE = """
    import sys, pathlib
    model = (pathlib.Path(sys.argv[1]) / "model.txt").read_text()
    (pathlib.Path(sys.argv[2]) / "score.txt").write_text(model + " scored")
    print("evaluated", model)
"""


def three_steps(ws: Workspace, tmp_path: Path) -> Pipeline:
    """prepare -> train -> evaluate, each in its own source folder (written once)."""
    for name, text in (("prepare", PREPARE), ("train", TRAIN), ("evaluate", EVALUATE)):
        if not (tmp_path / name / f"{name}.py").exists():
            write(tmp_path / name, f"{name}.py", text)
    prepared, model, score = PipelineData("prepared"), PipelineData("model"), PipelineData("score")
    scale = PipelineParameter("scale", 1)
    prepare = PythonScriptStep(
        "prepare.py",
        name="prepare",
        arguments=[prepared, scale],
        outputs=[prepared],
        source_directory=tmp_path / "prepare",
    )
    train = PythonScriptStep(
        "train.py",
        name="train",
        arguments=[prepared, model],
        inputs=[prepared],
        outputs=[model],
        params={"lr": 0.5},
        source_directory=tmp_path / "train",
    )
    evaluate = PythonScriptStep(
        "evaluate.py",
        name="evaluate",
        arguments=[model, score],
        inputs=[model],
        outputs=[score],
        source_directory=tmp_path / "evaluate",
    )
    assert prepare and train
    return Pipeline(ws, steps=[evaluate])  # the upstream steps are found


def types(run: PipelineRun) -> dict[str, str]:
    return {s.name: s.type for s in run.get_steps()}


def test_three_steps_pass_files_and_a_rerun_reuses_every_step(
    ws: Workspace, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = Experiment(ws, "pipe")
    first = exp.submit(three_steps(ws, tmp_path), pipeline_parameters={"scale": 2})
    assert isinstance(first, PipelineRun) and first.type == "azureml.PipelineRun"
    assert isinstance(Run.get(ws, first.id), PipelineRun)  # as v1's Run.get rehydrates
    assert first.wait_for_completion(show_output=True) == RunStatus.COMPLETED
    shown = capsys.readouterr().out
    assert "StepRun( train ) Status: Completed" in shown and "trained on 20 lr 0.5" in shown
    assert types(first) == dict.fromkeys(["prepare", "train", "evaluate"], "azureml.StepRun")
    (evaluate,) = first.find_step_run("evaluate")
    out = Path(evaluate.get_output_data("score").download(str(tmp_path / "dl")))
    assert (out / "score.txt").read_text() == "model 20 scored"
    assert out.as_posix().endswith(f"azureml/{evaluate.id}/score")
    log = first.read_log()
    assert "This step will run and generate new outputs" in log

    again = three_steps(ws, tmp_path).submit("pipe", pipeline_parameters={"scale": 2})
    assert again.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert types(again) == dict.fromkeys(["prepare", "train", "evaluate"], "azureml.ReusedStepRun")
    assert ws.store.get_run(again.id).pid == os.getpid()  # decided at submit: no process started
    (reused,) = again.find_step_run("evaluate")
    assert reused.reused_run_id == evaluate.id
    assert "eligible to reuse" in reused.read_log() and "Reused" in reused.read_log()
    assert "eligible to reuse" in again.read_log()
    assert "It was reused" in reused.why_not_reused()
    path = reused.get_output_data("score").path
    assert (path / "score.txt").read_text() == "model 20 scored"

    # A new parameter value changes prepare's output, so every step runs.
    third = three_steps(ws, tmp_path).submit("pipe", pipeline_parameters={"scale": 3})
    assert third.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert set(types(third).values()) == {"azureml.StepRun"}
    (prepare,) = third.find_step_run("prepare")
    assert "arguments" in prepare.why_not_reused()
    (train,) = third.find_step_run("train")
    assert "input prepared" in train.why_not_reused()

    # Listed, a pipeline's run and its steps come back as their kinds, as from Run.get.
    listed = list(exp.get_runs())
    assert [r.id for r in listed] == [third.id, again.id, first.id]
    assert all(isinstance(r, PipelineRun) for r in listed)
    steps = list(listed[0].get_children())
    assert sorted(type(s).__name__ for s in steps) == ["StepRun"] * 3
    assert isinstance(steps[0].parent, PipelineRun) and steps[0].parent.id == third.id
    reused_steps = list(listed[1].get_children())
    assert {(type(s).__name__, s.type) for s in reused_steps} == {
        ("StepRun", "azureml.ReusedStepRun")
    }


def test_a_changed_source_reruns_that_step_and_what_reads_its_changed_output(
    ws: Workspace, tmp_path: Path
) -> None:
    assert three_steps(ws, tmp_path).submit("p").wait_for_completion(False) == "Completed"
    write(tmp_path / "train", "train.py", TRAIN + "    print('a new line')\n")
    second = three_steps(ws, tmp_path).submit("another-experiment")  # reuse crosses them
    assert second.wait_for_completion(False) == RunStatus.COMPLETED
    assert types(second) == {
        "prepare": "azureml.ReusedStepRun",
        "train": "azureml.StepRun",
        "evaluate": "azureml.ReusedStepRun",  # train wrote the same model: content decides
    }
    (train,) = second.find_step_run("train")
    assert train.why_not_reused().endswith("these changed: source files.")

    write(tmp_path / "train", "train.py", TRAIN.replace('f"model {total}"', 'f"model2 {total}"'))
    third = three_steps(ws, tmp_path).submit("p")
    assert third.wait_for_completion(False) == RunStatus.COMPLETED
    assert types(third) == {
        "prepare": "azureml.ReusedStepRun",
        "train": "azureml.StepRun",
        "evaluate": "azureml.StepRun",
    }
    (evaluate,) = third.find_step_run("evaluate")
    assert "input model" in evaluate.why_not_reused()


def test_deleted_outputs_and_reuse_switched_off_are_not_reused(
    ws: Workspace, tmp_path: Path
) -> None:
    write(
        tmp_path / "src",
        "one.py",
        "import sys, pathlib\n(pathlib.Path(sys.argv[1]) / 'f').write_text('x')\n",
    )

    def pipeline(allow_reuse: bool = True) -> Pipeline:
        out = PipelineData("out")
        step = PythonScriptStep(
            "one.py",
            name="one",
            arguments=[out],
            outputs=[out],
            source_directory=tmp_path / "src",
            allow_reuse=allow_reuse,
        )
        return Pipeline(ws, [step])

    first = pipeline().submit("d")
    first.wait_for_completion(False)
    (step,) = first.find_step_run("one")
    (step.get_output_data("out").path / "f").unlink()
    second = pipeline().submit("d")
    second.wait_for_completion(False)
    (again,) = second.find_step_run("one")
    assert again.type == "azureml.StepRun"
    assert "outputs were gone" in again.why_not_reused()

    third = pipeline().submit("d", regenerate_outputs=True)
    third.wait_for_completion(False)
    (forced,) = third.find_step_run("one")
    assert forced.type == "azureml.StepRun"
    assert "regenerate_outputs=True" in forced.why_not_reused()
    fourth = pipeline(allow_reuse=False).submit("d")
    fourth.wait_for_completion(False)
    assert fourth.find_step_run("one")[0].type == "azureml.StepRun"
    # Changed in place (same name, same size) after the run: not trusted, so not reused.
    for earlier in (second, third, fourth):  # every run that could stand in
        (step_run,) = earlier.find_step_run("one")
        (step_run.get_output_data("out").path / "f").write_text("y")
    fifth = pipeline().submit("d")
    fifth.wait_for_completion(False)
    assert fifth.find_step_run("one")[0].type == "azureml.StepRun"


def test_independent_steps_run_side_by_side(ws: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "src", "nap.py", "import time\ntime.sleep(2)\n")
    steps = [
        PythonScriptStep(
            "nap.py", name=f"nap{i}", arguments=[str(i)], source_directory=tmp_path / "src"
        )
        for i in range(2)
    ]
    run = Pipeline(ws, steps).submit("par")
    assert run.wait_for_completion(False) == RunStatus.COMPLETED
    records = [ws.store.get_run(s.id) for s in run.get_steps()]
    assert len(records) == 2
    (a, b) = records
    assert a.started_utc and b.started_utc and a.ended_utc and b.ended_utc
    assert a.started_utc < b.ended_utc and b.started_utc < a.ended_utc  # they overlapped


def test_a_failing_step_fails_the_pipeline_and_its_dependants_do_not_run(
    ws: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "src", "boom.py", "raise SystemExit('no data')\n")
    write(tmp_path / "src", "after.py", "print('should not run')\n")
    boom = PythonScriptStep("boom.py", name="boom", source_directory=tmp_path / "src")
    after = PythonScriptStep("after.py", name="after", source_directory=tmp_path / "src")
    run = Pipeline(ws, [StepSequence(steps=[boom, after])]).submit("fail")
    with pytest.raises(ActivityFailedException, match="step 'boom' ended Failed"):
        run.wait_for_completion(show_output=False)
    assert run.get_status() == RunStatus.FAILED
    assert types(run) == {"boom": "azureml.StepRun"}
    assert run.find_step_run("after") == []


def test_cancel_stops_the_running_step(ws: Workspace, tmp_path: Path) -> None:
    write(
        tmp_path / "src", "long.py", "import time\nprint('started', flush=True)\ntime.sleep(120)\n"
    )
    run = Pipeline(
        ws, [PythonScriptStep("long.py", name="long", source_directory=tmp_path / "src")]
    ).submit("c")
    deadline = time.monotonic() + 30
    while not run.get_steps() or run.get_steps()[0].get_status() != RunStatus.RUNNING:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    (step,) = run.get_steps()
    wait_status(step, [RunStatus.RUNNING])
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.CANCELED
    assert step.get_status() == RunStatus.CANCELED
    record = ws.store.get_run(step.id)
    assert record.child_pid is not None
    assert liveness.is_alive(record.child_pid, None, record.host) is not True


def test_the_orchestrator_goes_on_after_the_submitting_process_exits(
    ws: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "src", "slow.py", "import time\ntime.sleep(1)\nprint('done late')\n")
    code = (
        "from aml_jupyter import Workspace, Pipeline, PythonScriptStep\n"
        f"ws = Workspace({str(ws.folder)!r})\n"
        f"step = PythonScriptStep('slow.py', name='slow', source_directory={str(tmp_path / 'src')!r})\n"
        "print(Pipeline(ws, [step]).submit('gone').id)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    run_id = done.stdout.split()[-1]
    run = PipelineRun(Experiment(ws, "gone"), run_id)
    assert run.get_status() != RunStatus.COMPLETED  # the submitter left before the end
    assert run.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert "done late" in run.find_step_run("slow")[0].read_log()


def test_continue_on_step_failure_lets_an_independent_branch_finish(
    ws: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "src", "boom.py", "raise SystemExit('bad')\n")
    write(tmp_path / "src", "fine.py", "import time\ntime.sleep(1)\nprint('fine')\n")
    write(tmp_path / "src", "after.py", "print('after')\n")
    boom = PythonScriptStep("boom.py", name="boom", source_directory=tmp_path / "src")
    after = PythonScriptStep("after.py", name="after", source_directory=tmp_path / "src")
    after.run_after(boom)
    fine = PythonScriptStep("fine.py", name="fine", source_directory=tmp_path / "src")
    run = Pipeline(ws, [after, fine]).submit("cont", continue_on_step_failure=True)
    assert run.wait_for_completion(show_output=False, raise_on_error=False) == RunStatus.FAILED
    statuses = {s.name: s.get_status() for s in run.get_steps()}
    assert statuses == {"boom": RunStatus.FAILED, "fine": RunStatus.COMPLETED}
    assert "step 'boom' ended Failed" in run.get_details()["error"]["error"]["message"]


def test_a_step_whose_supervisor_is_killed_fails_the_pipeline(
    ws: Workspace, tmp_path: Path
) -> None:
    import signal

    write(tmp_path / "src", "long.py", "import time\ntime.sleep(120)\n")
    step = PythonScriptStep("long.py", name="long", source_directory=tmp_path / "src")
    run = Pipeline(ws, [step]).submit("killed")
    deadline = time.monotonic() + 30
    while not run.get_steps() or run.get_steps()[0].get_status() != RunStatus.RUNNING:
        assert time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    record = ws.store.get_run(run.get_steps()[0].id)
    assert record.pid is not None
    os.kill(record.pid, signal.SIGKILL)  # the step's supervisor, not the orchestrator
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.FAILED
    assert "step 'long' ended Failed" in run.get_details()["error"]["error"]["message"]

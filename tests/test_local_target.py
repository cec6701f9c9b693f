"""Submitted runs on the local target: real supervisor and script processes."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from aml_jupyter import (
    ActivityFailedException,
    AmlError,
    Experiment,
    RunStatus,
    ScriptRunConfig,
)
from tests.conftest import cancel_active_runs, wait_status, write

TRAIN = """
    import os, sys
    from azureml.core import Run
    from azureml.core.run import Run as SameRun
    run = Run.get_context()
    assert SameRun is Run
    print("args", sys.argv[1:])
    for i in range(3):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.tag("from-script", "yes")
    os.makedirs("outputs", exist_ok=True)
    os.makedirs("logs", exist_ok=True)
    open("outputs/model.txt", "w").write("model")
    open("logs/events.txt", "w").write("ev")
    print("cwd is run folder:", os.getcwd().endswith("work"))
"""


def test_a_script_runs_tracked_end_to_end(exp: Experiment, project: Path) -> None:
    write(project, "train.py", TRAIN)
    write(project, "data/input.csv", "a,b\n")
    config = ScriptRunConfig(project, "train.py", arguments=["--lr", 0.1])
    run = exp.submit(config, tags={"team": "ml"})
    details = run.wait_for_completion()
    assert details["status"] == RunStatus.COMPLETED
    assert details["exitCode"] == 0
    assert details["runDefinition"]["arguments"] == ["--lr", "0.1"]
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}
    assert run.get_tags() == {"team": "ml", "from-script": "yes"}
    log = run.read_log()
    assert "args ['--lr', '0.1']" in log and "cwd is run folder: True" in log
    names = run.get_file_names()
    assert {"outputs/model.txt", "logs/events.txt", "user_logs/std_log.txt"} <= set(names)
    assert Path(run.download_file("outputs/model.txt", project / "m.txt")).read_text() == "model"
    assert run.get_properties()["ContentSnapshotId"] == run.get_snapshot_id()
    # Harvested, then cleaned up, except ./logs: it stays in place for TensorBoard (and stored).
    assert [p.name for p in (run.folder / "work").iterdir()] == ["logs"]
    assert (run.folder / "work" / "logs" / "events.txt").read_text() == "ev"


def test_status_walks_the_v1_lifecycle(exp: Experiment, project: Path) -> None:
    write(project, "slow.py", "import time; time.sleep(1.5)")
    run = exp.submit(ScriptRunConfig(project, "slow.py"))
    seen = []
    while (status := run.get_status()) not in RunStatus.TERMINAL:
        if not seen or seen[-1] != status:
            seen.append(status)
        time.sleep(0.01)
    seen.append(status)
    order = ["NotStarted", "Queued", "Preparing", "Starting", "Running", "Finalizing", "Completed"]
    assert "Running" in seen and seen[-1] == "Completed"
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen)


def test_a_failing_script_keeps_exit_code_and_error(exp: Experiment, project: Path) -> None:
    write(project, "bad.py", "print('before'); raise ValueError('bad learning rate')")
    run = exp.submit(ScriptRunConfig(project, "bad.py"))
    with pytest.raises(ActivityFailedException, match="bad learning rate") as info:
        run.wait_for_completion()
    assert "before" in str(info.value)  # the log's last lines come with the error
    details = run.get_details()
    assert details["status"] == RunStatus.FAILED and details["exitCode"] == 1
    assert "ValueError: bad learning rate" in details["error"]["error"]["message"]
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED


def test_run_fail_inside_a_script_ends_the_run_failed(exp: Experiment, project: Path) -> None:
    write(project, "f.py", "from azureml.core import Run; Run.get_context().fail('data drifted')")
    run = exp.submit(ScriptRunConfig(project, "f.py"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    assert run.get_details()["error"]["error"]["message"] == "data drifted"


def test_command_instead_of_script(exp: Experiment, project: Path) -> None:
    run = exp.submit(ScriptRunConfig(project, command="echo from-shell; exit 3"))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["exitCode"] == 3 and "from-shell" in run.read_log()
    run2 = exp.submit(ScriptRunConfig(project, command=[sys.executable, "-c", "print('argv ok')"]))
    run2.wait_for_completion()
    assert "argv ok" in run2.read_log()


def test_show_output_streams_the_driver_log(
    exp: Experiment, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(
        project,
        "p.py",
        "import time\nfor i in range(3):\n    print('line', i)\n    time.sleep(0.2)\n",
    )
    run = exp.submit(ScriptRunConfig(project, "p.py"))
    run.wait_for_completion(show_output=True)
    out = capsys.readouterr().out
    assert f"RunId: {run.id}" in out and "line 0" in out and "line 2" in out
    assert "Execution Summary" in out


def test_cancel_stops_the_whole_process_group(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "grandchild.pid"
    write(
        project,
        "sleepy.py",
        f"""
        import subprocess, sys, time
        p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        open({str(marker)!r}, "w").write(str(p.pid))
        print("started", flush=True)
        time.sleep(120)
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "sleepy.py"))
    wait_status(run, {RunStatus.RUNNING})
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(marker.read_text())
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=20) == RunStatus.CANCELED
    time.sleep(0.2)
    assert (
        not Path(f"/proc/{grandchild}").exists()
        or "Z" in Path(f"/proc/{grandchild}/stat").read_text().split(")")[1][:3]
    )


def test_max_run_duration_is_enforced(exp: Experiment, project: Path) -> None:
    write(project, "long.py", "import time; time.sleep(60)")
    run = exp.submit(ScriptRunConfig(project, "long.py", max_run_duration_seconds=1))
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=30)
    assert details["status"] == RunStatus.FAILED
    assert details["error"]["error"]["code"] == "MaxRunDurationExceeded"


def test_the_run_outlives_the_process_that_submitted_it(exp: Experiment, project: Path) -> None:
    write(project, "s.py", "import time; time.sleep(1); print('survived')")
    code = (
        "from aml_jupyter import *\n"
        f"ws = Workspace({str(exp.workspace.folder)!r})\n"
        f"r = Experiment(ws, 'detached').submit(ScriptRunConfig({str(project)!r}, 's.py'))\n"
        "print(r.id)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    )
    run = exp.workspace.get_run(out.stdout.strip())
    assert run.get_status() not in RunStatus.TERMINAL  # the submitter is gone, the run is not
    assert run.wait_for_completion(timeout_seconds=30)["status"] == RunStatus.COMPLETED
    assert "survived" in run.read_log()


def test_resubmitting_an_unchanged_folder_reuses_the_snapshot(
    exp: Experiment, project: Path
) -> None:
    write(project, "ok.py", "print('ok')")
    a = exp.submit(ScriptRunConfig(project, "ok.py"))
    b = exp.submit(ScriptRunConfig(project, "ok.py"))
    assert a.get_snapshot_id() == b.get_snapshot_id()
    a.wait_for_completion()
    b.wait_for_completion()
    restored = Path(b.restore_snapshot(path=project.parent / "restored"))
    assert (restored / "ok.py").read_text() == "print('ok')"


def test_git_state_is_recorded(exp: Experiment, project: Path) -> None:
    write(project, "g.py", "print(1)")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], cwd=project, check=True)
    subprocess.run([*git, "add", "."], cwd=project, check=True)
    subprocess.run([*git, "commit", "-qm", "c"], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True
    ).stdout.strip()
    write(project, "untracked.py", "x = 1")
    run = exp.submit(ScriptRunConfig(project, "g.py"))
    props = run.get_properties()
    assert props["azureml.git.commit"] == commit == props["mlflow.source.git.commit"]
    assert props["azureml.git.branch"] == "main"
    assert props["azureml.git.dirty"] == "True"
    assert props["azureml.git.repository_uri"]
    run.wait_for_completion()


def test_unknown_target_creates_no_run(exp: Experiment, project: Path) -> None:
    write(project, "ok.py", "print('ok')")
    with pytest.raises(AmlError, match="Unknown compute target 'gpu'"):
        exp.submit(ScriptRunConfig(project, "ok.py", compute_target="gpu"))
    assert list(exp.get_runs()) == []


def test_definition_is_recorded_as_json(exp: Experiment, project: Path) -> None:
    write(project, "ok.py", "print('ok')")
    run = exp.submit(ScriptRunConfig(project, "ok.py"))
    row = exp.workspace.store.get_run(run.id)
    assert row.definition["script"] == "ok.py"
    run.wait_for_completion()


def test_a_run_a_failed_test_left_going_is_canceled_at_teardown(
    exp: Experiment, project: Path
) -> None:
    # What the `ws` fixture does after every test, so a failing test leaves no script behind.
    write(project, "hold.py", "import time\nwhile True:\n    time.sleep(0.05)\n")
    run = exp.submit(ScriptRunConfig(project, "hold.py"))
    assert wait_status(run, {RunStatus.RUNNING}) == RunStatus.RUNNING
    cancel_active_runs(exp.workspace)
    assert run.get_status() == RunStatus.CANCELED

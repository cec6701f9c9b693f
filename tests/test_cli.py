"""The ``aml`` command line, run as real subprocesses (``python -m aml_jupyter ...``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

#: No single command may take longer than this; every process a test starts ends.
TIMEOUT = 60

TRAIN = """
    import os
    import sys

    from azureml.core import Run

    run = Run.get_context()
    print("hello from train", sys.argv[1:])
    for i in range(3):
        print(f"epoch {i}")
        run.log("loss", 1.0 / (i + 1))
    run.log("acc", 0.875)
    os.makedirs("outputs", exist_ok=True)
    with open("outputs/x.txt", "w") as f:
        f.write("result 42")
"""

#: Prints, then sleeps: a run that is surely still going when a test acts on it.
SLEEPER = """
    import time

    print("started", flush=True)
    time.sleep(60)
"""


def env() -> dict[str, str]:
    """The test's environment without any workspace or run leaking in; quick cancels."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in ("AML_WORKSPACE", "AML_RUN_ID", "AML_EXPERIMENT_NAME", "AZUREML_RUN_ID")
    }
    clean["AML_CANCEL_GRACE_SECONDS"] = "1"
    return clean


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aml_jupyter", *args]


def aml(
    cwd: Path, *args: str, timeout: float = TIMEOUT, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``aml ARGS`` in ``cwd`` (with ``extra_env`` added to its environment) and wait."""
    return subprocess.run(
        command(*args),
        cwd=cwd,
        env={**env(), **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def aml_json(cwd: Path, *args: str) -> Any:
    result = aml(cwd, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


def new_project(folder: Path) -> Path:
    """A folder with a fresh workspace made by ``aml workspace create``."""
    folder.mkdir(parents=True, exist_ok=True)
    result = aml(folder, "workspace", "create")
    assert result.returncode == 0, result.stderr
    return folder


def submit(cwd: Path, *args: str) -> str:
    """Submit without waiting; returns the run id (the one stdout line)."""
    result = aml(cwd, "run", "submit-script", *args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\n") == 1, result.stdout
    return result.stdout.strip()


def status_of(cwd: Path, run_id: str) -> str:
    return str(aml_json(cwd, "run", "show", run_id)["status"])


def wait_for_log(cwd: Path, run_id: str, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while text not in aml(cwd, "run", "logs", run_id).stdout:
        assert time.monotonic() < deadline, f"{text!r} never appeared in the log of {run_id}"
        time.sleep(0.1)


def interruptible() -> None:
    """Give the child the default SIGINT handler (a background shell may have ignored it)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


# one real run, shared by the tests that read it back ------------------------------------------
class Done:
    def __init__(self, folder: Path, result: subprocess.CompletedProcess[str]) -> None:
        self.folder = folder
        self.result = result
        self.run_id = result.stdout.splitlines()[0] if result.stdout else ""


@pytest.fixture(scope="module")
def done(tmp_path_factory: pytest.TempPathFactory) -> Done:
    """``aml run submit-script train.py --wait`` of a script that prints, logs and writes."""
    folder = new_project(tmp_path_factory.mktemp("cli") / "proj")
    write(folder, "train.py", TRAIN)
    result = aml(
        folder,
        "run",
        "submit-script",
        "train.py",
        "-e",
        "cli-test",
        "--tag",
        "team=ml",
        "--name",
        "first",
        "--wait",
        "--",
        "--lr",
        "0.5",
    )
    return Done(folder, result)


def test_submit_wait_streams_the_log_and_exits_0(done: Done) -> None:
    assert done.result.returncode == 0, done.result.stdout + done.result.stderr
    assert done.run_id.startswith("cli-test_")
    out = done.result.stdout
    assert "hello from train ['--lr', '0.5']" in out
    assert out.index("epoch 0") < out.index("epoch 1") < out.index("epoch 2")
    assert "Status: Completed" in out
    assert "Traceback" not in done.result.stderr


def test_run_list_shows_the_run_completed_with_its_metrics(done: Done) -> None:
    rows = aml_json(done.folder, "run", "list")
    assert len(rows) == 1
    row = rows[0]
    assert row["run_id"] == done.run_id
    assert row["experiment"] == "cli-test"
    assert row["status"] == "Completed"
    assert row["metric.acc"] == 0.875
    assert row["metric.loss"] == pytest.approx(1 / 3)
    assert row["display_name"] == "first"

    table = aml(done.folder, "run", "list")
    assert table.returncode == 0, table.stderr
    header, line = table.stdout.splitlines()
    assert header.split()[:2] == ["RUN", "ID"]
    assert {"acc", "loss", "STATUS", "DURATION", "CREATED"} <= set(header.split())
    assert line.startswith(done.run_id)
    assert "Completed" in line.split()
    assert "0.875" in line.split()
    # columns are aligned: each header starts where its values start
    assert line.index(" cli-test ") + 1 == header.index("EXPERIMENT")
    assert line.index(" Completed ") + 1 == header.index("STATUS")


def test_run_list_filters(done: Done) -> None:
    assert len(aml_json(done.folder, "run", "list", "--status", "completed")) == 1
    assert aml_json(done.folder, "run", "list", "--status", "Failed") == []
    assert len(aml_json(done.folder, "run", "list", "--tag", "team=ml")) == 1
    assert len(aml_json(done.folder, "run", "list", "--tag", "team")) == 1
    assert aml_json(done.folder, "run", "list", "--tag", "team=other") == []
    assert aml_json(done.folder, "run", "list", "-e", "other") == []


def test_run_show_json_by_id_prefix(done: Done) -> None:
    details = aml_json(done.folder, "run", "show", done.run_id[:-3])
    assert details["runId"] == done.run_id
    assert details["status"] == "Completed"
    assert details["tags"] == {"team": "ml"}
    assert details["runDefinition"]["arguments"] == ["--lr", "0.5"]
    assert details["metrics"]["acc"] == 0.875
    assert details["metrics"]["loss"] == pytest.approx([1.0, 0.5, 1 / 3])
    assert "outputs/x.txt" in details["files"]

    text = aml(done.folder, "run", "show", done.run_id)
    assert text.returncode == 0, text.stderr
    assert "Status:     Completed" in text.stdout
    assert "  outputs/x.txt" in text.stdout.splitlines()


def test_run_download_writes_the_outputs(done: Done, tmp_path: Path) -> None:
    result = aml(done.folder, "run", "download", done.run_id, "--prefix", "outputs", "-o", "dl")
    assert result.returncode == 0, result.stderr
    written = done.folder / "dl" / "outputs" / "x.txt"
    assert result.stdout.splitlines() == [str(Path("dl") / "outputs" / "x.txt")]
    assert written.read_text() == "result 42"


def test_run_logs_prints_the_driver_log(done: Done) -> None:
    result = aml(done.folder, "run", "logs", done.run_id)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:4] == ["hello from train ['--lr', '0.5']", "epoch 0", "epoch 1", "epoch 2"]


def test_workspace_and_experiment_counts_after_a_run(done: Done) -> None:
    info = aml_json(done.folder, "workspace", "show")
    assert info == {
        "name": "proj",
        "folder": str(done.folder / ".aml"),
        "experiments": 1,
        "runs": 1,
    }
    experiments = aml_json(done.folder, "experiment", "list")
    assert [(e["name"], e["runs"]) for e in experiments] == [("cli-test", 1)]
    assert experiments[0]["last_run"] is not None
    table = aml(done.folder, "experiment", "list").stdout.splitlines()
    assert table[0].split() == ["EXPERIMENT", "RUNS", "LAST", "RUN"]
    assert table[1].split()[:2] == ["cli-test", "1"]


# workspaces -----------------------------------------------------------------------------------
def test_workspace_create_and_show(tmp_path: Path) -> None:
    created = aml(tmp_path, "workspace", "create", "proj")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == str(tmp_path / "proj" / ".aml")
    assert (tmp_path / "proj" / ".aml" / "aml.db").is_file()
    assert "no workspace found" not in created.stderr

    info = aml_json(tmp_path, "-w", "proj", "workspace", "show")
    assert info == {
        "name": "proj",
        "folder": str(tmp_path / "proj" / ".aml"),
        "experiments": 0,
        "runs": 0,
    }
    # -w works after the command too; text output names the folder
    text = aml(tmp_path, "workspace", "show", "-w", "proj")
    assert text.returncode == 0, text.stderr
    assert f"folder:      {tmp_path / 'proj' / '.aml'}" in text.stdout.splitlines()
    assert not (tmp_path / ".aml").exists()


def test_a_submit_with_no_workspace_creates_one_and_says_so_once(tmp_path: Path) -> None:
    from aml_jupyter import Workspace

    assert Workspace.find(tmp_path) is None  # precondition: no .aml above the temp folder
    write(tmp_path, "ok.py", "print('ok')\n")
    first = aml(tmp_path, "run", "submit-script", "ok.py", "--wait")
    assert first.returncode == 0, first.stderr
    expected = f"aml: no workspace found; created {tmp_path / '.aml'}"
    assert first.stderr.splitlines().count(expected) == 1
    assert (tmp_path / ".aml" / "aml.db").is_file()
    again = aml(tmp_path, "run", "submit-script", "ok.py", "--wait")
    assert again.returncode == 0, again.stderr
    assert "no workspace found" not in again.stderr
    assert len(aml_json(tmp_path, "run", "list")) == 2


#: Every command that reads (or changes) what a workspace holds: none of them makes one.
NEEDS_A_WORKSPACE = [
    ["workspace", "show"],
    ["experiment", "list"],
    ["run", "list"],
    ["run", "show", "some-run"],
    ["run", "logs", "some-run"],
    ["run", "cancel", "some-run"],
    ["run", "download", "some-run"],
    ["env", "list"],
    ["env", "show", "train"],
    ["env", "register", "train", "--image", "python:3.11"],
    ["compute", "list"],
    ["compute", "detach", "gpu"],
    ["model", "list"],
    ["model", "show", "m"],
    ["model", "download", "m"],
    ["model", "delete", "m:1"],
    ["service", "list"],
    ["service", "show", "s"],
    ["service", "logs", "s"],
    ["service", "delete", "s"],
]


@pytest.mark.parametrize("args", NEEDS_A_WORKSPACE, ids=" ".join)
def test_commands_other_than_create_and_submit_make_no_workspace(
    tmp_path: Path, args: list[str]
) -> None:
    from aml_jupyter import Workspace

    assert Workspace.find(tmp_path) is None  # precondition: no .aml above the temp folder
    result = aml(tmp_path, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"aml: error: No workspace in {tmp_path} or its parents.")
    assert "`aml workspace create`" in line and "-w PATH or $AML_WORKSPACE" in line
    assert list(tmp_path.iterdir()) == []


def test_no_workspace_at_w_or_aml_workspace_is_an_error_too(tmp_path: Path) -> None:
    (tmp_path / "proj").mkdir()
    result = aml(tmp_path, "-w", "proj", "run", "list")
    assert result.returncode == 2
    assert "No workspace in proj (-w) or its parents." in result.stderr
    result = aml(tmp_path, "experiment", "list", extra_env={"AML_WORKSPACE": str(tmp_path / "p")})
    assert result.returncode == 2
    assert f"No workspace in {tmp_path / 'p'} ($AML_WORKSPACE)." in result.stderr
    assert [p.name for p in tmp_path.iterdir()] == ["proj"]
    assert list((tmp_path / "proj").iterdir()) == []


# runs that fail, are followed, canceled, interrupted -------------------------------------------
def test_failing_script_exits_1_and_is_failed(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "bad.py", 'print("about to fail")\nraise ValueError("boom")\n')
    result = aml(tmp_path, "run", "submit-script", "bad.py", "--wait")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "about to fail" in result.stdout
    assert "ValueError: boom" in result.stdout
    run_id = result.stdout.splitlines()[0]
    [row] = aml_json(tmp_path, "run", "list")
    assert (row["run_id"], row["status"]) == (run_id, "Failed")
    details = aml_json(tmp_path, "run", "show", run_id)
    assert "boom" in details["error"]["error"]["message"]


def test_follow_prints_until_the_run_ends(tmp_path: Path) -> None:
    new_project(tmp_path)
    go = tmp_path / "go"
    write(
        tmp_path,
        "slow.py",
        f"""
        import os, sys, time

        print("waiting-for-go", flush=True)
        deadline = time.monotonic() + 30
        while not os.path.exists({str(go)!r}):
            if time.monotonic() > deadline:
                sys.exit(3)
            time.sleep(0.05)
        for i in range(5):
            print(f"after go {{i}}", flush=True)
            time.sleep(0.1)
        """,
    )
    run_id = submit(tmp_path, "slow.py")
    out_file = tmp_path / "follow.out"
    with open(out_file, "w") as out:
        proc = subprocess.Popen(
            command("run", "logs", run_id, "--follow"),
            cwd=tmp_path,
            env=env(),
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
    try:
        deadline = time.monotonic() + 30
        while "waiting-for-go" not in out_file.read_text():
            assert time.monotonic() < deadline, "follow printed nothing"
            assert proc.poll() is None, "follow ended before the run did"
            time.sleep(0.05)
        assert proc.poll() is None  # still following a run that waits
        go.touch()
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    text = out_file.read_text()
    assert text.splitlines() == ["waiting-for-go", *(f"after go {i}" for i in range(5))]
    assert f"run {run_id} ended Completed" in err


def test_cancel_a_sleeping_run(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "sleep.py", SLEEPER)
    run_id = submit(tmp_path, "sleep.py")
    try:
        wait_for_log(tmp_path, run_id, "started")
        assert status_of(tmp_path, run_id) == "Running"
        began = time.monotonic()
        result = aml(tmp_path, "run", "cancel", run_id)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "Canceled"
        assert time.monotonic() - began < 20
        [row] = aml_json(tmp_path, "run", "list")
        assert row["status"] == "Canceled"
        again = aml(tmp_path, "run", "cancel", run_id)
        assert (again.returncode, again.stdout.strip()) == (0, "Canceled")
        assert "already ended" in again.stderr
    finally:
        aml(tmp_path, "run", "cancel", run_id)


def test_ctrl_c_stops_waiting_not_the_run(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "sleep.py", SLEEPER)
    proc = subprocess.Popen(
        command("run", "submit-script", "sleep.py", "--wait"),
        cwd=tmp_path,
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=interruptible,
    )
    run_id = ""
    try:
        assert proc.stdout is not None
        run_id = proc.stdout.readline().strip()
        wait_for_log(tmp_path, run_id, "started")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "stopped waiting; the run goes on" in err
        assert "Traceback" not in err
        assert status_of(tmp_path, run_id) == "Running"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        if run_id:
            aml(tmp_path, "run", "cancel", run_id)


# bad input ------------------------------------------------------------------------------------
def test_missing_script_is_a_one_line_error(tmp_path: Path) -> None:
    new_project(tmp_path)
    result = aml(tmp_path, "run", "submit-script", "nope.py")
    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aml: error:")
    assert "nope.py" in lines[0]
    assert "Traceback" not in result.stderr


def test_a_missing_script_in_a_folder_without_a_workspace_makes_none(tmp_path: Path) -> None:
    result = aml(tmp_path, "run", "submit-script", "typo.py")
    assert result.returncode == 2 and "typo.py" in result.stderr
    assert list(tmp_path.iterdir()) == []  # no .aml for a submit that never happened


@pytest.mark.parametrize("verb", ["show", "logs", "cancel", "download"])
def test_unknown_run_id(tmp_path: Path, verb: str) -> None:
    new_project(tmp_path)
    result = aml(tmp_path, "run", verb, "no-such-run")
    assert result.returncode == 2
    assert result.stderr.startswith("aml: error:")
    assert "no-such-run" in result.stderr
    assert "Traceback" not in result.stderr


def test_illegal_experiment_name_creates_no_run(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "ok.py", "print('ok')\n")
    result = aml(tmp_path, "run", "submit-script", "ok.py", "-e", "bad name!")
    assert result.returncode == 2
    assert result.stderr.startswith("aml: error:")
    assert "not allowed" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
    assert aml_json(tmp_path, "run", "list") == []
    assert aml_json(tmp_path, "experiment", "list") == []


def test_script_arguments_without_dashes_get_a_hint(tmp_path: Path) -> None:
    result = aml(tmp_path, "run", "submit-script", "x.py", "--lr", "1")
    assert result.returncode == 2
    assert "after '--'" in result.stderr
    assert not (tmp_path / ".aml").exists()


def test_submit_script_runs_a_distributed_job(tmp_path: Path) -> None:
    write(tmp_path, "dist.py", "import os\nprint('world', os.environ['WORLD_SIZE'])\n")
    result = aml(tmp_path, "run", "submit-script", "dist.py", "--procs", "2", "--wait")
    assert result.returncode == 0, result.stderr
    assert "world 2" in result.stdout

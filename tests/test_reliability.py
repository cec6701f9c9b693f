"""Kills, crashes and crowds: nothing logged is lost and no run is left Running."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from aml_jupyter import Experiment, RunStatus, ScriptRunConfig
from tests.conftest import wait_status, write


def test_sigkill_of_the_script_keeps_every_logged_metric(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    progress = tmp_path / "progress"
    write(
        project,
        "logger.py",
        f"""
        import os
        from azureml.core import Run
        run = Run.get_context()
        i = 0
        while True:
            run.log("i", i)
            i += 1
            if i % 2000 == 0:  # atomically: the test must never read half a line
                open({str(progress)!r} + ".tmp", "w").write(f"{{os.getpid()}} {{i}}")
                os.replace({str(progress)!r} + ".tmp", {str(progress)!r})
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "logger.py"))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if progress.exists() and (text := progress.read_text()) and int(text.split()[1]) >= 10_000:
            break
        time.sleep(0.02)
    pid, reported = map(int, progress.read_text().split())
    os.kill(pid, signal.SIGKILL)
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.FAILED
    assert "SIGKILL" in run.get_details()["error"]["error"]["message"]
    values = run.get_metrics()["i"]
    assert len(values) >= reported  # everything logged before the kill is there
    assert values == list(range(len(values)))  # in order, no gaps, no torn lines


def test_sigkill_of_the_supervisor_fails_the_run_with_a_reason(
    exp: Experiment, project: Path
) -> None:
    write(project, "sleeper.py", "import time\nprint('up', flush=True)\ntime.sleep(120)")
    run = exp.submit(ScriptRunConfig(project, "sleeper.py"))
    wait_status(run, {RunStatus.RUNNING})
    row = exp.workspace.store.get_run(run.id)
    os.kill(row.pid, signal.SIGKILL)
    # The next read notices; it must not stay Running.
    assert wait_status(run, RunStatus.TERMINAL, timeout=30) == RunStatus.FAILED
    error = run.get_details()["error"]["error"]
    assert error["code"] == "OwnerDied" and "ended without finishing" in error["message"]
    child = exp.workspace.store.get_run(run.id).child_pid
    deadline = time.monotonic() + 5
    while Path(f"/proc/{child}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    stat = Path(f"/proc/{child}/stat")
    assert not stat.exists() or stat.read_text().split(")")[1].split()[0] == "Z"


def test_sixteen_runs_logging_at_once_lose_nothing(exp: Experiment, project: Path) -> None:
    write(
        project,
        "many.py",
        """
        from azureml.core import Run
        run = Run.get_context()
        for i in range(10_000):
            run.log("m", i, step=i)
        run.tag("done", "yes")
        """,
    )
    runs = [exp.submit(ScriptRunConfig(project, "many.py")) for _ in range(16)]
    total = 0
    for run in runs:
        details = run.wait_for_completion(timeout_seconds=180)
        assert details["status"] == RunStatus.COMPLETED, run.read_log()
        values = run.get_metrics()["m"]
        assert values == list(range(10_000))
        assert run.get_tags()["done"] == "yes"
        assert "database is locked" not in run.read_log()
        total += len(values)
    assert total == 160_000
    summaries = exp.workspace.store.metric_summaries([r.id for r in runs])
    assert all(s["m"] == 9_999 for s in summaries.values())

"""Run.get_context() outside a submitted run: recorded if a workspace exists, offline if not."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from aml_jupyter import AmlError, Run, RunStatus, Workspace
from tests.conftest import write


def run_script(path: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(path)], cwd=cwd, capture_output=True, text=True, timeout=60
    )


def test_a_plain_script_records_into_the_found_workspace(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path)
    script = write(
        tmp_path / "src",
        "my_train.py",
        """
        from aml_jupyter import Run
        run = Run.get_context()
        run.log("acc", 0.9)
        run.tag("where", "plain python")
        print(run.id)
        """,
    )
    done = run_script(script, tmp_path / "src")
    assert done.returncode == 0, done.stderr
    assert "recording into run" in done.stderr
    run = ws.get_run(done.stdout.strip())
    assert run.experiment.name == "my_train"
    assert run.get_status() == RunStatus.COMPLETED
    assert run.get_metrics() == {"acc": 0.9} and run.get_tags() == {"where": "plain python"}


def test_an_uncaught_exception_fails_the_recorded_run(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path)
    script = write(
        tmp_path,
        "crash.py",
        "from aml_jupyter import Run\nrun = Run.get_context()\nprint(run.id, flush=True)\nraise KeyError('col')\n",
    )
    done = run_script(script, tmp_path)
    assert done.returncode == 1
    run = ws.get_run(done.stdout.strip())
    assert run.get_status() == RunStatus.FAILED
    assert "KeyError" in run.get_details()["error"]["error"]["message"]


def test_without_a_workspace_the_offline_run_works_everywhere(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import aml_jupyter.tracking.context as context

    context._current = None
    try:
        run = Run.get_context()
        assert run.id.startswith("OfflineRun_")
        run.log("acc", 0.9, step=1)  # v1's offline run raised TypeError on step
        assert "Attempted to log scalar metric acc:\n0.9" in capsys.readouterr().out
        # v1's offline run raised AttributeError on each of these.
        assert run.experiment.name == "offline"
        assert run.get_metrics() == {"acc": 0.9}
        assert run.get_status() == RunStatus.RUNNING
        assert run.get_tags() == {} and run.parent is None
        assert run.get_file_names() == []
        assert run.display_name == run.id
        with run.child_run("c") as child:
            child.log("x", 1)
        assert [c.id for c in run.get_children()] == [child.id]
        assert run.get_details()["runId"] == run.id
        assert not (tmp_path / ".aml").exists()
    finally:
        context._current = None


def test_allow_offline_false_raises_our_error(tmp_path: Path) -> None:
    import aml_jupyter.tracking.context as context

    context._current = None
    with pytest.raises(AmlError, match="not part of a run"):
        Run.get_context(allow_offline=False)


def test_outside_our_runs_azureml_is_untouched(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import azureml.core"], capture_output=True, text=True, timeout=30
    )
    assert "No module named 'azureml'" in done.stderr

"""One submit path: Experiment.submit dispatches on the config's type, Run.submit_child, and
cancel and liveness through the target that runs the run (real supervisors, a real agent)."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from aml_jupyter import AmlError, ComputeInstance, Experiment, Run, RunStatus, ScriptRunConfig
from aml_jupyter.tracking.query import list_runs
from aml_jupyter.tracking.submitting import experiment_method
from aml_jupyter.tracking.targets import check_active_runs
from tests.conftest import wait_status, write
from tests.test_compute_instance import SLOW, Agent, agent, box  # noqa: F401 (fixtures)

#: What the test workflow's submit function was called with.
calls: list[tuple[str, str, dict[str, Any]]] = []


def submit_wrapped(
    config: Any, workspace: Any, experiment_name: str, *, tags: Any = None, **kwargs: Any
) -> Run:
    """A workflow of our own: it runs the script it wraps, tagged as its own."""
    calls.append((type(config).__name__, experiment_name, kwargs))
    experiment = Experiment(workspace, experiment_name)
    return experiment.submit(config.script, tags={**(tags or {}), "workflow": config.kind})


@experiment_method(submit_function=submit_wrapped)
class Wrapped:
    kind = "wrapped"

    def __init__(self, script: ScriptRunConfig) -> None:
        self.script = script


class Sweep(Wrapped):  # inherits its base's submit function
    kind = "sweep"


class V1Style:
    """Registered the way v1's configs are: on ``__init__``."""

    kind = "v1"

    @experiment_method(submit_function=submit_wrapped)
    def __init__(self, script: ScriptRunConfig) -> None:
        self.script = script


def test_submit_dispatches_on_the_config_type(exp: Experiment, project: Path) -> None:
    write(project, "hello.py", "print('hello from', __file__)")
    script = ScriptRunConfig(project, "hello.py")
    runs = [
        exp.submit(Wrapped(script), tags={"team": "ml"}, attempt=1),
        exp.submit(Sweep(script)),
        exp.submit(V1Style(script)),
    ]
    assert [c[0] for c in calls[-3:]] == ["Wrapped", "Sweep", "V1Style"]
    assert calls[-3] == ("Wrapped", exp.name, {"attempt": 1})  # extra kwargs reach it
    for run, kind in zip(runs, ["wrapped", "sweep", "v1"], strict=True):
        assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
        assert run.get_tags()["workflow"] == kind
        assert "hello from" in run.read_log()
    assert runs[0].get_tags()["team"] == "ml"
    assert V1Style(script).script is script  # the decorated __init__ still initializes


def test_an_unregistered_config_names_what_can_be_submitted(exp: Experiment) -> None:
    with pytest.raises(AmlError, match=r"Cannot submit a dict.*ScriptRunConfig"):
        exp.submit({"script": "train.py"})
    assert list(exp.get_runs()) == []


def test_submit_child_from_the_notebook(exp: Experiment, project: Path) -> None:
    write(project, "child.py", "from azureml.core import Run\nRun.get_context().log('x', 1)\n")
    parent = exp.start_logging(snapshot_directory=None)
    child = parent.submit_child(ScriptRunConfig(project, "child.py"), tags={"role": "child"})
    assert child.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert child.parent is not None and child.parent.id == parent.id
    assert [c.id for c in parent.get_children()] == [child.id]
    assert child.type == "azureml.scriptrun" and child.get_tags() == {"role": "child"}
    assert child.get_metrics() == {"x": 1}
    assert [r.id for r in exp.get_runs()] == [parent.id]  # children are not top-level runs
    parent.complete()
    assert parent.get_status() == child.get_status() == RunStatus.COMPLETED


def test_submit_child_from_a_submitted_script(exp: Experiment, project: Path) -> None:
    write(project, "child.py", "print('child ran')")
    write(
        project,
        "parent.py",
        """
        from azureml.core import Run, ScriptRunConfig
        run = Run.get_context()
        child = run.submit_child(ScriptRunConfig(".", "child.py"))
        print("child", child.id, child.wait_for_completion()["status"], flush=True)
        """,
    )
    parent = exp.submit(ScriptRunConfig(project, "parent.py"))
    assert parent.wait_for_completion()["status"] == RunStatus.COMPLETED
    (child,) = parent.get_children()
    assert f"child {child.id} Completed" in parent.read_log()
    assert "child ran" in child.read_log()
    assert child.parent is not None and child.parent.id == parent.id


def test_a_submitted_child_outlives_its_parent_unless_it_is_canceled(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "go"
    write(
        project,
        "waits.py",
        f"""
        import os, time
        while not os.path.exists({str(gate)!r}):
            time.sleep(0.02)
        print("went on", flush=True)
        """,
    )
    write(project, "sleeps.py", "import time\nprint('up', flush=True)\ntime.sleep(120)\n")
    parent = exp.start_logging(snapshot_directory=None)
    child = parent.submit_child(ScriptRunConfig(project, "waits.py"))
    wait_status(child, {RunStatus.RUNNING})
    parent.complete()  # the child is a run of its own: it goes on
    gate.write_text("")
    assert child.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "went on" in child.read_log()

    parent = exp.start_logging(snapshot_directory=None)
    child = parent.submit_child(ScriptRunConfig(project, "sleeps.py"))
    wait_status(child, {RunStatus.RUNNING})
    parent.cancel()  # canceling the parent cancels it, through its target
    assert wait_status(child, RunStatus.TERMINAL) == RunStatus.CANCELED
    assert parent.get_status() == RunStatus.CANCELED


def test_looking_at_listed_runs_costs_no_statement_while_their_owners_live(
    exp: Experiment, project: Path
) -> None:
    write(project, "quick.py", "print('done')")
    write(project, "sleeper.py", "import time\nprint('up', flush=True)\ntime.sleep(120)")
    ended = exp.submit(ScriptRunConfig(project, "quick.py"))
    assert ended.wait_for_completion()["status"] == RunStatus.COMPLETED
    live = exp.submit(ScriptRunConfig(project, "sleeper.py"))
    wait_status(live, {RunStatus.RUNNING})
    store = exp.workspace.store
    records = store.list_runs(experiment=exp.name)
    with store.count_statements() as seen:  # type: ignore[attr-defined]
        checked = check_active_runs(exp.workspace, records)
    assert seen == [] and checked == records  # a local owner is asked, not the database
    live.cancel()
    assert wait_status(live, RunStatus.TERMINAL) == RunStatus.CANCELED


def _killed_supervisor_run(exp: Experiment, project: Path) -> Run:
    write(project, "sleeper.py", "import time\nprint('up', flush=True)\ntime.sleep(120)")
    run = exp.submit(ScriptRunConfig(project, "sleeper.py"))
    wait_status(run, {RunStatus.RUNNING})
    supervisor = exp.workspace.store.get_run(run.id).pid
    assert supervisor is not None
    os.kill(supervisor, signal.SIGKILL)
    _wait_gone(supervisor)
    return run


def test_listings_show_a_run_whose_supervisor_was_killed_as_failed(
    exp: Experiment, project: Path
) -> None:
    run = _killed_supervisor_run(exp, project)
    # No single-run read first: the listing itself asks the local target.
    (listed,) = list(exp.get_runs())
    assert listed.status == RunStatus.FAILED
    assert list_runs(exp.workspace)[0]["status"] == RunStatus.FAILED
    error = run.get_details()["error"]["error"]
    assert error["code"] == "OwnerDied" and "ended without finishing" in error["message"]
    script = exp.workspace.store.get_run(run.id).child_pid
    assert script is not None
    _wait_gone(script)  # the orphaned script was stopped too


def test_cancel_after_the_supervisor_died_stops_the_orphaned_script(
    exp: Experiment, project: Path
) -> None:
    run = _killed_supervisor_run(exp, project)
    run.cancel()
    assert run.get_status() == RunStatus.FAILED  # it had died: cancel says so, not Canceled
    assert "ended without finishing" in run.get_details()["error"]["error"]["message"]
    script = exp.workspace.store.get_run(run.id).child_pid
    assert script is not None
    _wait_gone(script)


def test_cancel_reaches_the_instance_when_the_mirror_is_gone(
    exp: Experiment,
    project: Path,
    box: ComputeInstance,  # noqa: F811 (fixture)
    agent: Agent,  # noqa: F811 (fixture)
) -> None:
    write(project, "slow.py", SLOW)
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    mirror = exp.workspace.store.get_run(run.id).pid
    assert mirror is not None
    os.kill(mirror, signal.SIGKILL)  # nothing here follows the run any more
    _wait_gone(mirror)
    run.cancel()  # so the target itself asks the agent
    assert run.get_status() == RunStatus.CANCELED
    remote = agent.workspace.get_run(run.id)
    assert wait_status(remote, RunStatus.TERMINAL) == RunStatus.CANCELED
    script = agent.workspace.store.get_run(run.id).child_pid
    assert script is not None
    _wait_gone(script)


def _wait_gone(pid: int, timeout: float = 20) -> None:
    """Poll until ``pid`` is gone (or a zombie); fail the test if it is not in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
                return
        except psutil.NoSuchProcess:
            return
        time.sleep(0.02)
    raise AssertionError(f"process {pid} is still running")

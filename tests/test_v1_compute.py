"""v1's compute surface as notebooks use it: the ``ComputeTargetException`` fallback that
creates an ``AmlCompute`` cluster (a real one-machine Ray head we start, that scales to zero
when idle and starts again on the next submit) and a ``ComputeInstance`` (a real agent we
start and stop), through the ``azureml.*`` shim modules."""

from __future__ import annotations

import os
import time
from pathlib import Path

import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import Experiment, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.compute.cluster.managed_head import head_pids, running_head
from aml_jupyter.compute.instance.provisioned import AgentFiles
from aml_jupyter.compute.vm_sizes import SIZES, vm_size
from aml_jupyter.errors import AmlError
from tests.conftest import wait_status, write

SHIM = str(Path(__file__).resolve().parent.parent / "aml_jupyter" / "_azureml_shim")


@pytest.fixture(autouse=True)
def azureml_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import azureml`` means the shim, as in the aml kernel."""
    monkeypatch.syspath_prepend(SHIM)


def _v1() -> tuple[type, type, type, type]:
    from azureml.core.compute import AmlCompute, ComputeInstance, ComputeTarget
    from azureml.core.compute_target import ComputeTargetException

    return ComputeTarget, AmlCompute, ComputeInstance, ComputeTargetException


def test_unknown_target_raises_and_the_v1_fallback_creates_a_cluster(ws: Workspace) -> None:
    ComputeTarget, AmlCompute, ComputeInstance, ComputeTargetException = _v1()
    from azureml.exceptions import ComputeTargetException as FromExceptions

    assert FromExceptions is ComputeTargetException and issubclass(ComputeTargetException, AmlError)
    try:  # the cell every v1 sample has
        cluster = ComputeTarget(workspace=ws, name="cpu-cluster")
        raise AssertionError("an unknown name was found")
    except ComputeTargetException as exc:
        assert "cpu-cluster" in str(exc) and "ComputeTarget.create" in str(exc)
        config = AmlCompute.provisioning_configuration(
            vm_size="STANDARD_D2_V2", min_nodes=0, max_nodes=4, idle_seconds_before_scaledown=600
        )
        cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    cluster.wait_for_completion(show_output=True)
    assert isinstance(cluster, AmlCompute) and cluster.type == "AmlCompute"
    assert set(ws.compute_targets) == {"local", "cpu-cluster"}
    again = ws.compute_targets["cpu-cluster"]
    assert isinstance(again, AmlCompute) and again.vm_size == "STANDARD_D2_V2"
    assert AmlCompute(ws, "cpu-cluster").scale_settings["maximum_node_count"] == 4
    assert running_head(ws.folder, "cpu-cluster") is None  # min_nodes=0: nothing started yet
    config.validate_configuration()
    status = cluster.get_status()
    assert status == "Succeeded" and status.provisioning_state == "Succeeded"
    assert cluster.status.serialize() == status.serialize()
    assert status.current_node_count == 0 and status.node_state_counts["running_node_count"] == 0
    assert status.serialize()["scaleSettings"]["maximumNodeCount"] == 4
    assert cluster.list_nodes() == []
    with pytest.raises(ComputeTargetException, match="is of type AmlCompute, not ComputeInstance"):
        ComputeInstance(ws, "cpu-cluster")
    with pytest.raises(ComputeTargetException, match="exists already"):
        ComputeTarget.create(ws, "cpu-cluster", config)
    cluster.update(max_nodes=2, idle_seconds_before_scaledown=30)
    assert ComputeTarget(workspace=ws, name="cpu-cluster").scale_settings == {
        "minimum_node_count": 0,
        "maximum_node_count": 2,
        "idle_seconds_before_scaledown": 30,
    }
    assert any(s["name"] == "Standard_D2_v2" for s in AmlCompute.supported_vmsizes(ws))
    cluster.delete()
    assert set(ws.compute_targets) == {"local"}


def test_bad_provisioning_settings_are_refused_before_anything_is_made(ws: Workspace) -> None:
    ComputeTarget, AmlCompute, _, ComputeTargetException = _v1()
    for bad in (
        {"vm_size": "STANDARD_Z9"},
        {"max_nodes": 0},
        {"min_nodes": 3, "max_nodes": 2},
        {"idle_seconds_before_scaledown": -1},
        {"vm_priority": "spot"},
    ):
        with pytest.raises(ComputeTargetException):
            AmlCompute.provisioning_configuration(**bad)
    with pytest.raises(ComputeTargetException, match="provisioning_configuration"):
        ComputeTarget.create(ws, "x1", {"vm_size": "STANDARD_D2_V2"})
    with pytest.raises(AmlError, match="not allowed"):
        ComputeTarget.create(ws, "local", AmlCompute.provisioning_configuration())
    with pytest.MonkeyPatch.context() as env:  # a configured cluster must answer
        env.setenv("AML_RAY_ADDRESS", "http://127.0.0.1:9")
        with pytest.raises(ComputeTargetException, match="no Ray cluster answers"):
            ComputeTarget.create(
                ws, "elsewhere", AmlCompute.provisioning_configuration(vm_size="STANDARD_D2_V2")
            )
    assert set(ws.compute_targets) == {"local"}


def test_unsupported_v1_names_say_so() -> None:
    import azureml.core.compute as compute

    with pytest.raises(AmlError, match="AksCompute is not supported"):
        from azureml.core.compute import AksCompute  # noqa: F401
    assert not hasattr(compute, "__wrapped__")  # dunders stay AttributeErrors (inspect, IPython)


@given(st.text(max_size=30))
@settings(max_examples=100, deadline=None)
def test_any_vm_size_name_is_known_or_refused_clearly(name: str) -> None:
    try:
        size = vm_size(name, "STANDARD_NC6")
    except AmlError as exc:
        assert "vm_size" in str(exc)
    else:
        assert size.name.upper() == (name.strip().upper() or "STANDARD_NC6")
        assert size.cpus >= 1 and size.gpus >= 0


def test_vm_size_names_are_read_in_any_case() -> None:
    assert vm_size("standard_d2_v2", "x").cpus == 2
    assert vm_size("Standard_NC6s_v3", "x").gpus == 1
    assert vm_size("", "STANDARD_NC6") == SIZES["STANDARD_NC6"]


# --- a real managed Ray head ----------------------------------------------------------------

TIMES = """
    import time
    from azureml.core import Run
    run = Run.get_context()
    run.log("t0", time.time())
    time.sleep(4)
    run.log("t1", time.time())
"""


def _no_process_left(states: list[dict]) -> bool:
    """No process of these heads (found by their marker, not by pids that may be reused) nor
    their watchers (pid and start time) is running."""
    from aml_jupyter.compute.cluster.managed_head import watcher_alive
    from aml_jupyter.compute.cluster.ray_local import LocalRayHead

    return all(not LocalRayHead.reattach(s).pids() and not watcher_alive(s) for s in states)


def _wait(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} within {timeout} s")


@pytest.mark.timeout(1200)  # two head starts: 30-200 s each on a loaded 2-core machine
def test_a_cluster_runs_at_most_max_nodes_at_once_scales_to_zero_and_back(
    ws: Workspace, project: Path, ray_machine: None
) -> None:
    pytest.importorskip("ray.job_submission", reason="AmlCompute runs on ray[default]")
    ComputeTarget, AmlCompute, _, _ = _v1()
    config = AmlCompute.provisioning_configuration(
        vm_size="STANDARD_D2_V2", max_nodes=2, idle_seconds_before_scaledown=5
    )
    cluster = ComputeTarget.create(ws, "cpu-cluster", config)
    write(project, "times.py", TIMES)
    exp = Experiment(ws, "v1-cluster")
    seen: list[dict] = []
    try:
        src = ScriptRunConfig(str(project), "times.py", compute_target="cpu-cluster")
        runs = [exp.submit(src) for _ in range(3)]
        state = running_head(ws.folder, "cpu-cluster")
        assert state is not None
        assert len(head_pids(state)) > 2  # the head's processes and its watcher
        seen.append(state)
        for run in runs:
            run.wait_for_completion(show_output=False, timeout_seconds=300)
            assert run.get_status() == RunStatus.COMPLETED, run.read_log()
        spans = sorted((r.get_metrics()["t0"], r.get_metrics()["t1"]) for r in runs)
        # 2 CPUs a node, 2 nodes: the third run started only once one of the first two ended.
        assert spans[2][0] >= min(spans[0][1], spans[1][1])
        assert spans[1][0] < spans[0][1]  # ...and two did run at once
        assert ComputeTarget(workspace=ws, name="cpu-cluster").get_status().current_node_count >= 1
        # Idle for 5 s: the watcher stops the head and every process of it (scaled to zero).
        _wait(lambda: running_head(ws.folder, "cpu-cluster") is None, 120, "the head stopped")
        _wait(lambda: _no_process_left(seen), 60, "the head's processes ended")
        assert "scaled to zero" in (ws.folder / "compute" / "cpu-cluster.head.log").read_text()
        assert cluster.get_status().current_node_count == 0
        # The next submit starts it again.
        run = exp.submit(src)
        again = running_head(ws.folder, "cpu-cluster")
        assert again is not None and again["marker"] != state["marker"]
        seen.append(again)
        run.wait_for_completion(timeout_seconds=300)
        assert run.get_status() == RunStatus.COMPLETED
        # Ray's report of what is in use trails a run's end by a second or so (and the head
        # stays up idle for 5 s before it scales to zero again).
        _wait(lambda: [n["nodeState"] for n in cluster.list_nodes()] == ["idle"], 30, "idle")
    finally:
        ComputeTarget(workspace=ws, name="cpu-cluster").delete()
        assert running_head(ws.folder, "cpu-cluster") is None
        _wait(lambda: _no_process_left(seen), 60, "nothing of the cluster left running")


# --- a real managed agent --------------------------------------------------------------------

WHERE = """
    import os
    from azureml.core import Run
    run = Run.get_context()
    run.log("cores", len(os.sched_getaffinity(0)))
    print("CUDA_VISIBLE_DEVICES=" + repr(os.environ.get("CUDA_VISIBLE_DEVICES")))
"""


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="CPU pinning is Linux's")
def test_a_compute_instance_is_started_stopped_and_deleted_by_us(
    ws: Workspace, project: Path
) -> None:
    ComputeTarget, _, ComputeInstance, ComputeTargetException = _v1()
    config = ComputeInstance.provisioning_configuration(
        vm_size="STANDARD_D1_V2", ssh_public_access=False
    )
    instance = ComputeTarget.create(ws, "my-instance", config)
    files = AgentFiles(ws.folder, "my-instance")
    first = files.read_pid()
    assert first is not None
    try:
        instance.wait_for_completion(show_output=True)
        assert isinstance(instance, ComputeInstance) and instance.get_status() == "Running"
        assert (
            instance.get_status().state == "Running" and instance.status.vm_size == "STANDARD_D1_V2"
        )
        assert oct(files.token.stat().st_mode & 0o777) == "0o600"
        assert files.token.read_text().strip() not in files.log.read_text()
        write(project, "where.py", WHERE)
        src = ScriptRunConfig(str(project), "where.py", compute_target="my-instance")
        run = Experiment(ws, "v1-instance").submit(src)
        run.wait_for_completion(timeout_seconds=120)
        assert run.get_status() == RunStatus.COMPLETED, run.read_log()
        assert run.get_metrics()["cores"] == 1  # STANDARD_D1_V2: one core of this machine
        assert "CUDA_VISIBLE_DEVICES=''" in run.read_log()  # a CPU size sees no GPU

        instance.stop()
        assert (
            not psutil.pid_exists(first["pid"]) or psutil.Process(first["pid"]).status() == "zombie"
        )
        assert ComputeTarget(workspace=ws, name="my-instance").get_status() == "Stopped"
        with pytest.raises(ComputeTargetException, match="Stopped"):
            Experiment(ws, "v1-instance").submit(src)
        instance.start()
        second = files.read_pid()
        assert second is not None and second["pid"] != first["pid"]
        assert ComputeTarget(workspace=ws, name="my-instance").get_status() == "Running"
        run = Experiment(ws, "v1-instance").submit(src)
        wait_status(run, RunStatus.TERMINAL, timeout=120)
        assert run.get_status() == RunStatus.COMPLETED
    finally:
        ComputeTarget(workspace=ws, name="my-instance").delete()
    assert "my-instance" not in ws.compute_targets
    assert not files.folder.exists() and not files.token.exists()
    last = second["pid"]
    assert not psutil.pid_exists(last) or psutil.Process(last).status() == "zombie"


def test_an_attached_instance_is_not_ours_to_stop(ws: Workspace) -> None:
    _, _, ComputeInstance, ComputeTargetException = _v1()
    ws.store.attach_compute_target("theirs", "ComputeInstance", {"address": "http://127.0.0.1:9"})
    theirs = ComputeInstance(ws, "theirs")
    assert theirs.get_status() == "Unreachable"
    with pytest.raises(ComputeTargetException, match="did not start"):
        theirs.stop()
    theirs.delete()  # forgets it only
    assert "theirs" not in ws.compute_targets

"""The cluster target against a real one-machine Ray head (``ray start --head``, ~0.5 GB).

The head (:class:`LocalRayHead`) is started once for the module on free ports and stopped at
the end by PID.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import (
    AmlError,
    ComputeCluster,
    ComputeTarget,
    Experiment,
    PyTorchConfiguration,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.cluster import target as cluster_module
from aml_jupyter.compute.distributed import free_port
from tests.conftest import wait_status, write
from tests.raycluster import one_node_head

pytest.importorskip("ray.job_submission", reason="the cluster target needs ray[default]")

TRAIN = """
    import os, sys
    from azureml.core import Run
    run = Run.get_context()
    for i in range(3):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.tag("from-script", "yes")
    os.makedirs("outputs", exist_ok=True)
    os.makedirs("logs", exist_ok=True)
    open("outputs/model.txt", "w").write("model")
    open("logs/events.txt", "w").write("ev")
    print("ray job", os.environ.get("RAY_JOB_ID") is not None or "RAY_ADDRESS" in os.environ)
    print("args", sys.argv[1:])
"""

SLOW = """
    import time
    print("started", flush=True)
    for i in range(600):
        time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with one_node_head(num_cpus=3) as address:
        yield address


def _job_end(client: Any, job_id: str) -> str:
    deadline = time.monotonic() + 30
    while (status := str(client.get_job_status(job_id))) not in ("STOPPED", "SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


@pytest.fixture
def ray_target(ws: Workspace, ray_address: str) -> ComputeCluster:
    return ComputeCluster.attach(ws, "ray", ray_address)


def test_a_run_on_ray_comes_back_like_a_local_one(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    write(project, "train.py", TRAIN)
    config = ScriptRunConfig(project, "train.py", arguments=["--lr", 0.1], compute_target="ray")
    run = exp.submit(config, tags={"team": "ml"})
    details = run.wait_for_completion()
    assert details["status"] == RunStatus.COMPLETED, details
    assert details["target"] == "ray"
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}
    assert run.get_tags() == {"team": "ml", "from-script": "yes"}
    log = run.read_log()
    assert "ray job True" in log and "args ['--lr', '0.1']" in log
    assert "@@aml:" not in log and "ray_driver" not in log  # frames and Ray's echo are ours
    assert {"outputs/model.txt", "logs/events.txt", "user_logs/std_log.txt"} <= set(
        run.get_file_names()
    )
    assert Path(run.download_file("outputs/model.txt", project / "m.txt")).read_text() == "model"
    assert (run.folder / "work" / "logs" / "events.txt").read_text() == "ev"
    from ray.job_submission import JobSubmissionClient

    client = JobSubmissionClient(ray_target.config["address"])
    assert _job_end(client, run.id) == "SUCCEEDED"  # the driver exits just after the run ends
    assert ComputeTarget(exp.workspace, "ray").get_status() == "Running"


def test_a_failing_script_on_ray_fails_with_its_error(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    write(project, "bad.py", "raise ValueError('bad learning rate')\n")
    run = exp.submit(ScriptRunConfig(project, "bad.py", compute_target="ray"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    error = run.get_details()["error"]["error"]["message"]
    assert "ValueError: bad learning rate" in error


def test_cancel_stops_the_ray_job(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    write(project, "slow.py", SLOW)
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="ray"))
    deadline = time.monotonic() + 60
    while "started" not in run.read_log() and time.monotonic() < deadline:
        time.sleep(0.2)  # the driver log streams back live
    assert run.get_status() == RunStatus.RUNNING
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.CANCELED
    from ray.job_submission import JobSubmissionClient

    assert _job_end(JobSubmissionClient(ray_target.config["address"]), run.id) == "STOPPED"


def test_a_job_waiting_for_resources_is_queued(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str
) -> None:
    # 2 processes x 2 CPUs: more than the head's 3 CPUs, asked for up front by the entrypoint.
    ComputeCluster.attach(ws, "big", ray_address, cpus_per_process=2)
    write(project, "train.py", TRAIN)
    two = PyTorchConfiguration(process_count=2)
    run = exp.submit(
        ScriptRunConfig(project, "train.py", compute_target="big", distributed_job_config=two)
    )
    time.sleep(3)
    assert run.get_status() == RunStatus.QUEUED
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.CANCELED


def test_two_processes_on_ray_get_their_ranks(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    write(
        project,
        "ranks.py",
        """
        import os
        from azureml.core import Run
        print("rank", os.environ["RANK"], "of", os.environ["WORLD_SIZE"], flush=True)
        print("workspace", os.environ["AML_WORKSPACE"], flush=True)
        Run.get_context().log("rank_seen", int(os.environ["RANK"]))
        """,
    )
    config = ScriptRunConfig(
        project,
        "ranks.py",
        compute_target="ray",
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "rank 0 of 2" in run.read_log()
    assert "user_logs/std_log_process_1.txt" in run.get_file_names()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    # Each rank ran in a Ray actor in its own placement-group bundle, with its own scratch
    # workspace; both ranks' metrics came back.
    assert "rank 1 of 2" in rank1 and "aml-rank1-" in rank1 and "aml-rank0-" in run.read_log()
    assert sorted(run.get_metrics()["rank_seen"]) == [0, 1]


def test_one_failing_rank_on_ray_stops_the_others(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    write(
        project,
        "fail.py",
        """
        import os, time
        if os.environ["RANK"] == "1":
            raise RuntimeError("rank 1 broke")
        time.sleep(120)
        """,
    )
    two = PyTorchConfiguration(process_count=2)
    config = ScriptRunConfig(project, "fail.py", compute_target="ray", distributed_job_config=two)
    started = time.monotonic()
    run = exp.submit(config)
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    assert time.monotonic() - started < 90  # rank 0 did not sleep its 120 s
    assert "Process 1 of 2" in run.get_details()["error"]["error"]["message"]


def test_bad_input_gives_clear_errors_and_no_run(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    ray_address: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    with pytest.raises(AmlError, match="does not answer"):
        ComputeCluster.attach(ws, "nobody", f"http://127.0.0.1:{port}")
    with pytest.raises(AmlError, match="job-submission URL"):
        ComputeCluster.attach(ws, "bad", "127.0.0.1:6379")
    with pytest.raises(AmlError, match="cpus_per_process"):
        ComputeCluster.attach(ws, "bad", ray_address, cpus_per_process=-1)
    ComputeCluster.attach(ws, "ray", ray_address)
    monkeypatch.setattr(cluster_module, "RAY_PACKAGE_LIMIT", 1000)
    write(project, "train.py", TRAIN)
    write(project, "data.bin", "x" * 2000)
    with pytest.raises(AmlError, match=r"\.amlignore"):
        exp.submit(ScriptRunConfig(project, "train.py", compute_target="ray"))
    assert ws.store.list_runs() == []


def test_torch_all_reduce_on_ray(
    exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    pytest.importorskip("torch", reason="torch is installed by `make test`")
    from tests.test_distributed import ALLREDUCE

    shutil.copy(ALLREDUCE, project / "allreduce.py")
    two = PyTorchConfiguration(process_count=2)
    config = ScriptRunConfig(
        project, "allreduce.py", compute_target="ray", distributed_job_config=two
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert run.get_metrics() == {"allreduce_sum": 3.0}
    assert "rank 0 of 2" in run.read_log()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert "rank 1 of 2" in rank1 and "sum = 3" in rank1

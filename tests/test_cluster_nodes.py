"""The cluster target on a real two-node Ray cluster (fixture ``ray_cluster``, tests/raycluster.py).

Placement is checked through Ray's own state API, not only our record of it. The lost-node
test kills the second node, so it runs last.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import (
    ComputeCluster,
    CondaDependencies,
    Dataset,
    Environment,
    Experiment,
    OutputFileDatasetConfig,
    PyTorchConfiguration,
    Run,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.cluster.ray_placement import GPU_RESOURCE_ENV
from aml_jupyter.compute.cluster.ray_ranks import NODES_PROPERTY
from tests.conftest import wait_status, write
from tests.raycluster import FAKE_GPU, HEAD_GPU, HEAD_IP, WORKER_IP, RayCluster

pytest.importorskip("ray.job_submission", reason="the cluster target needs ray[default]")

RANKS = """
    import os, sys, time
    print("rank", os.environ["RANK"], "node_rank", os.environ["NODE_RANK"],
          "master", os.environ["MASTER_ADDR"], flush=True)
    if sys.argv[1:]:
        print("started", flush=True)
        time.sleep(float(sys.argv[1]))
"""
#: What Ray prints in a driver that joins the cluster: the run's system log's, not the user's.
RAY_NOISE = ("Connecting to existing Ray cluster", "worker.py:", "SIGTERM received", "(raylet)")


def _client(cluster: RayCluster) -> Any:
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(cluster.address)


def _job_end(cluster: RayCluster, job_id: str, timeout: float = 60) -> str:
    client, deadline = _client(cluster), time.monotonic() + timeout
    while (status := str(client.get_job_status(job_id))) not in ("STOPPED", "SUCCEEDED", "FAILED"):
        assert time.monotonic() < deadline, status
        time.sleep(0.2)
    return status


def _rank_actors(cluster: RayCluster, run: Run) -> list[Any]:
    """The run's rank actors as Ray's state API lists them (alive or dead)."""
    job = _client(cluster).get_job_info(run.id).job_id
    return [a for a in cluster.actors("RankProcess") if a.job_id == job]


def _wait_for_log(run: Run, path: Path | None, text: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while True:
        log = path.read_text() if path is not None and path.exists() else ""
        if text in (run.read_log() if path is None else log):
            return
        assert time.monotonic() < deadline, f"no {text!r} in {path or 'the driver log'}"
        assert run.get_status() not in RunStatus.TERMINAL, run.get_details()
        time.sleep(0.2)


def _system_log(run: Run, tmp: Path) -> str:
    return Path(run.download_file("system_logs/ray_job.txt", tmp / "ray_job.txt")).read_text()


def _assert_no_ray_noise(run: Run) -> None:
    log = run.read_log()
    for noise in RAY_NOISE:
        assert noise not in log, (noise, log)


@pytest.fixture
def ray_target(ws: Workspace, ray_cluster: RayCluster) -> ComputeCluster:
    return ComputeCluster.attach(ws, "ray", ray_cluster.address, cpus_per_process=1)


def test_node_count_puts_the_ranks_on_distinct_nodes(
    exp: Experiment, project: Path, ray_cluster: RayCluster, ray_target: ComputeCluster
) -> None:
    write(project, "ranks.py", RANKS)
    two = PyTorchConfiguration(process_count=2, node_count=2)
    config = ScriptRunConfig(project, "ranks.py", compute_target="ray", distributed_job_config=two)
    started = time.monotonic()
    run = exp.submit(config)
    details = run.wait_for_completion()
    took = time.monotonic() - started
    assert details["status"] == RunStatus.COMPLETED, details
    # Our record: each rank, its node rank and the node it ran on.
    placed = json.loads(details["properties"][NODES_PROPERTY])
    assert [(p["rank"], p["node_rank"]) for p in placed] == [(0, 0), (1, 1)]
    assert {p["ip"] for p in placed} == {HEAD_IP, WORKER_IP}
    # Ray's: two rank actors, each on its own node, the very nodes we recorded.
    actors = _rank_actors(ray_cluster, run)
    assert sorted(a.node_id for a in actors) == sorted(p["node_id"] for p in placed)
    nodes = ray_cluster.nodes()
    assert {nodes[a.node_id].node_ip for a in actors} == {HEAD_IP, WORKER_IP}
    # The scripts saw the same: NODE_RANK per node, rank 0's node as MASTER_ADDR.
    master = placed[0]["ip"]
    assert f"rank 0 node_rank 0 master {master}" in run.read_log()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert f"rank 1 node_rank 1 master {master}" in rank1
    _assert_no_ray_noise(run)
    system = _system_log(run, project)
    assert "Connecting to existing Ray cluster" in system  # Ray's own lines are kept there
    assert _job_end(ray_cluster, run.id) == "SUCCEEDED"
    timings = [line for line in system.splitlines() if re.search(r" in \d| up \d|ended \d", line)]
    print(f"2-rank run on 2 nodes: {took:.1f} s end to end;", "; ".join(timings))


DATA_RANKS = """
    import argparse, os
    from azureml.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--images")
    p.add_argument("--out")
    a = p.parse_args()
    run = Run.get_context()
    rank = os.environ["RANK"]
    text = open(os.path.join(a.images, "a.csv")).read().strip().replace(chr(10), "|")
    rows = run.input_datasets["images"]
    print("rank", rank, "sees", sorted(os.listdir(a.images)), text, flush=True)
    open(os.path.join(a.out, "by_rank_%s.txt" % rank), "w").write("rank " + rank)
"""


def test_a_distributed_run_reads_its_datasets_on_each_node(
    ws: Workspace, exp: Experiment, project: Path, ray_target: ComputeCluster
) -> None:
    """Each rank fetches the inputs onto its own node; the output dataset is rank 0's (as
    the run's ./outputs are), uploaded and registered here."""
    store = ws.get_default_datastore()
    src = project.parent / "data-src"
    write(src, "a.csv", "n\n1\n")
    write(src, "b.csv", "n\n2\n")
    store.upload(str(src), "d", show_progress=False)
    images = Dataset.File.from_files((store, "d/*.csv")).register(ws, "ranked")
    write(project, "ranks.py", DATA_RANKS)
    out = OutputFileDatasetConfig("by_rank", destination=(store, "out/{run-id}"))
    config = ScriptRunConfig(
        project,
        "ranks.py",
        arguments=[
            "--images",
            images.as_named_input("images").as_mount(),
            "--out",
            out.register_on_complete("by_rank"),
        ],
        compute_target="ray",
        distributed_job_config=PyTorchConfiguration(process_count=2, node_count=2),
    )
    run = exp.submit(config)
    details = run.wait_for_completion()
    assert details["status"] == RunStatus.COMPLETED, (details.get("error"), run.read_log())
    placed = json.loads(details["properties"][NODES_PROPERTY])
    assert {p["ip"] for p in placed} == {HEAD_IP, WORKER_IP}  # two nodes, each fetched
    assert "rank 0 sees ['a.csv', 'b.csv'] n|1" in run.read_log()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert "rank 1 sees ['a.csv', 'b.csv'] n|1" in rank1
    got = Dataset.get_by_name(ws, "by_rank").to_path()
    assert got == ["/by_rank_0.txt"]  # rank 0's
    assert Path(store.fs_path(f"out/{run.id}/by_rank_0.txt")).read_text() == "rank 0"
    assert [o["dataset"]["name"] for o in run.get_details()["outputDatasets"]] == ["by_rank"]


def test_a_fast_run_sends_every_status_it_passed(
    exp: Experiment, project: Path, ray_cluster: RayCluster, ray_target: ComputeCluster
) -> None:
    write(project, "quick.py", "print('quick')\n")
    run = exp.submit(ScriptRunConfig(project, "quick.py", compute_target="ray"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "quick" in run.read_log()
    nonce = run.get_details()["runDefinition"]["cluster"]["nonce"]
    sent = re.findall(
        rf"^@@aml:{nonce}:status:(\w+)$", _client(ray_cluster).get_job_logs(run.id), re.M
    )
    # Each status as it was set, Running too, however short (the pump alone saw Queued only).
    assert sent == [RunStatus.QUEUED, "Preparing", "Starting", RunStatus.RUNNING, "Finalizing"]
    # ... and the run's record has its start, even when one poll saw Running and the end.
    details = run.get_details()
    assert details["startTimeUtc"] and details["endTimeUtc"], details
    assert details["startTimeUtc"] <= details["endTimeUtc"]
    assert "Runtime env is setting up" not in run.read_log()  # Ray's job manager: not the user's


def test_more_nodes_than_the_cluster_has_waits_and_says_why(
    exp: Experiment, project: Path, ray_cluster: RayCluster, ray_target: ComputeCluster
) -> None:
    write(project, "ranks.py", RANKS)
    three = PyTorchConfiguration(process_count=3, node_count=3)
    config = ScriptRunConfig(
        project, "ranks.py", compute_target="ray", distributed_job_config=three
    )
    run = exp.submit(config)
    _wait_for_log(run, None, "The run needs 3 nodes")
    log = run.read_log()
    assert "3 bundle(s) of CPU 1, each on a node of its own (STRICT_SPREAD)" in log
    assert f"The cluster has 2 node(s): {HEAD_IP} (CPU 2), {WORKER_IP} (CPU 2" in log
    assert run.get_status() == RunStatus.QUEUED
    # The driver's system log arrives live, not only once the run has ended.
    _wait_for_log(run, run.folder / "system_logs" / "ray_job.txt", "[aml] ray.init() took")
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.CANCELED
    assert _job_end(ray_cluster, run.id) == "STOPPED"
    assert "Canceled while the run waited for Ray to place its processes" in run.read_log()
    from ray.util.state import list_placement_groups

    groups = list_placement_groups(
        address=ray_cluster.address, filters=[("name", "=", f"aml-{run.id}")]
    )
    assert [g.state for g in groups] == ["REMOVED"]  # nothing left reserved on the cluster
    _assert_no_ray_noise(run)


def test_gpus_per_process_asks_for_the_mapped_resource_and_cancel_is_quiet(
    ws: Workspace, exp: Experiment, project: Path, ray_cluster: RayCluster
) -> None:
    # Only the second node has the stand-in resource: both ranks must go there.
    ComputeCluster.attach(ws, "gpus", ray_cluster.address, cpus_per_process=0.5, gpus_per_process=1)
    env = Environment("fake-gpus")
    env.python.user_managed_dependencies = True
    env.environment_variables = {GPU_RESOURCE_ENV: FAKE_GPU}
    write(project, "ranks.py", RANKS)
    config = ScriptRunConfig(
        project,
        "ranks.py",
        arguments=[120],
        compute_target="gpus",
        environment=env,
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    run = exp.submit(config)
    _wait_for_log(run, None, "started")
    _wait_for_log(run, run.folder / "user_logs" / "std_log_process_1.txt", "started")
    actors = _rank_actors(ray_cluster, run)
    nodes = ray_cluster.nodes()
    assert [nodes[a.node_id].node_ip for a in actors] == [WORKER_IP, WORKER_IP]
    # Within a placement group Ray names a resource <name>_group_<bundle>_<group id>.
    asked = [{k.split("_group_")[0]: v for k, v in a.required_resources.items()} for a in actors]
    assert [a.get(FAKE_GPU) for a in asked] == [1, 1] and not any("GPU" in a for a in asked), asked
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.CANCELED
    assert _job_end(ray_cluster, run.id) == "STOPPED"
    _assert_no_ray_noise(run)  # Ray's stop and its signal dumps stay out of the driver log


def test_one_process_asks_for_the_mapped_gpu_resource_as_the_jobs_own(
    ws: Workspace, exp: Experiment, project: Path, ray_cluster: RayCluster
) -> None:
    ComputeCluster.attach(
        ws, "one-gpu", ray_cluster.address, cpus_per_process=0.5, gpus_per_process=1
    )
    env = Environment("head-gpu")
    env.python.user_managed_dependencies = True
    env.environment_variables = {GPU_RESOURCE_ENV: HEAD_GPU}
    write(project, "one.py", "print('one process')\n")
    config = ScriptRunConfig(project, "one.py", compute_target="one-gpu", environment=env)
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "one process" in run.read_log()
    # Only the head has the stand-in: the job's driver (which runs the script) went there.
    node = _client(ray_cluster).get_job_info(run.id).driver_node_id
    assert ray_cluster.nodes()[node].node_ip == HEAD_IP


def _wheel(folder: Path) -> Path:
    """A tiny pure-Python wheel made here: the nodes install it with no index to reach."""
    path = folder / "amlpiptest-0.1-py3-none-any.whl"
    info = "amlpiptest-0.1.dist-info"
    files = {
        "amlpiptest/__init__.py": b"VALUE = 'from the wheel'\n",
        f"{info}/METADATA": b"Metadata-Version: 2.1\nName: amlpiptest\nVersion: 0.1\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{name},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for name, data in files.items()
    )
    with zipfile.ZipFile(path, "w") as wheel:
        for name, data in files.items():
            wheel.writestr(name, data)
        wheel.writestr(f"{info}/RECORD", record + f"{info}/RECORD,,\n")
    return path


def test_an_environments_pip_packages_are_installed_on_the_node(
    ws: Workspace, exp: Experiment, project: Path, ray_cluster: RayCluster
) -> None:
    # The head's stand-in resource keeps the driver on the head: on one machine, Ray's log
    # API reads only a driver on the head back (see ClusterLogMissing in the README).
    ComputeCluster.attach(ws, "pip", ray_cluster.address, cpus_per_process=0.5, gpus_per_process=1)
    env = Environment("pip-wheel")
    env.python.conda_dependencies = CondaDependencies.create(
        pip_packages=[str(_wheel(project.parent))]
    )
    env.environment_variables = {GPU_RESOURCE_ENV: HEAD_GPU}
    write(project, "use.py", "import amlpiptest, sys\nprint('got', amlpiptest.VALUE, sys.prefix)\n")
    run = exp.submit(ScriptRunConfig(project, "use.py", compute_target="pip", environment=env))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    log = run.read_log()
    # Imported from the wheel, in the virtualenv Ray made for the runtime_env on the node.
    assert "got from the wheel" in log and "runtime_resources/pip/" in log, log
    assert _client(ray_cluster).get_job_info(run.id).runtime_env["pip"]["packages"] == [
        str(_wheel(project.parent))
    ]


ONE_ON_THE_WORKER = """
    import pathlib, sys, time
    pathlib.Path(sys.argv[1]).write_text("started")
    time.sleep(120)
"""


def test_a_lost_node_fails_the_run_as_a_system_error(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    ray_cluster: RayCluster,
    ray_target: ComputeCluster,
    tmp_path: Path,
) -> None:
    # Last in the module: it kills the second node, which the tests above need.
    write(project, "ranks.py", RANKS)
    two = PyTorchConfiguration(process_count=2, node_count=2)
    config = ScriptRunConfig(
        project, "ranks.py", arguments=[120], compute_target="ray", distributed_job_config=two
    )
    run = exp.submit(config)
    _wait_for_log(run, None, "started")
    _wait_for_log(run, run.folder / "user_logs" / "std_log_process_1.txt", "started")
    assert run.get_status() == RunStatus.RUNNING
    # And one process whose job's driver (which runs it) is on the worker: only it has the
    # stand-in resource. (On one machine, Ray reads no log back from a driver there.)
    ComputeCluster.attach(
        ws, "worker", ray_cluster.address, cpus_per_process=0.5, gpus_per_process=1
    )
    env = Environment("worker-gpu")
    env.python.user_managed_dependencies = True
    env.environment_variables = {GPU_RESOURCE_ENV: FAKE_GPU}
    write(project, "one.py", ONE_ON_THE_WORKER)
    marker = tmp_path / "one-started"
    one = exp.submit(
        ScriptRunConfig(project, "one.py", [str(marker)], compute_target="worker", environment=env)
    )
    assert one.get_details()["runDefinition"]["cluster"]["placed"] is False
    deadline = time.monotonic() + 120
    while not marker.exists():
        assert time.monotonic() < deadline and one.get_status() not in RunStatus.TERMINAL
        time.sleep(0.2)
    one_driver = _client(ray_cluster).get_job_info(one.id).driver_node_id
    assert ray_cluster.nodes()[one_driver].node_ip == WORKER_IP
    # The driver runs on the head, so what is lost is one rank's node, not the driver's.
    driver_node = _client(ray_cluster).get_job_info(run.id).driver_node_id
    assert ray_cluster.nodes()[driver_node].node_ip == HEAD_IP
    ray_cluster.kill_worker_raylet()
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=120)
    assert details["status"] == RunStatus.FAILED, details
    error = details["error"]["error"]
    placed = json.loads(details["properties"][NODES_PROPERTY])
    lost = next(p for p in placed if p["ip"] == WORKER_IP)
    assert error["code"] == "NodeLost", error
    assert error["message"].startswith(
        f"Ray node {WORKER_IP} (id {lost['node_id']}) was lost while rank {lost['rank']} ran on it"
    ), error
    assert _job_end(ray_cluster, run.id) == "FAILED"  # Ray's job status agrees
    assert ray_cluster.nodes()[lost["node_id"]].state == "DEAD"
    _assert_no_ray_noise(run)
    assert "marked dead" in _system_log(run, project)  # Ray's notice, kept for whoever digs
    # The single process went with its driver's node: a lost node too, not the script's fault.
    details = one.wait_for_completion(raise_on_error=False, timeout_seconds=120)
    assert details["status"] == RunStatus.FAILED, details
    error = details["error"]["error"]
    assert error["code"] == "NodeLost", error
    assert error["message"].startswith(
        f"Ray node {WORKER_IP} (id {one_driver}) was lost while the run's driver ran on it"
    ), error

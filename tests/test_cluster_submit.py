"""The submit side of the cluster target against a real one-machine Ray head (2 CPUs): Ray's
job API over plain HTTP (no ``import ray`` in the submitting process), a waiting job that says
why, Ray's start timeout, cancel of a waiting job, a long log tailed whole and in order.

The head is started once for the module with ``RAY_JOB_START_TIMEOUT_SECONDS`` short, so
Ray's give-up on a job that never gets resources (900 s by default) is seen in seconds.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import AmlError, ComputeCluster, Experiment, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.compute.distributed import free_port
from tests.conftest import wait_status, write
from tests.raycluster import one_node_head

pytest.importorskip("ray.job_submission", reason="the cluster target's tests need ray[default]")

#: Ray's start timeout on this module's head (seconds a job may wait for resources).
START_TIMEOUT_S = 30


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    before = os.environ.get("RAY_JOB_START_TIMEOUT_SECONDS")
    os.environ["RAY_JOB_START_TIMEOUT_SECONDS"] = str(START_TIMEOUT_S)  # the head inherits it
    try:
        with one_node_head(num_cpus=2) as address:
            yield address
    finally:
        if before is None:
            os.environ.pop("RAY_JOB_START_TIMEOUT_SECONDS", None)
        else:
            os.environ["RAY_JOB_START_TIMEOUT_SECONDS"] = before


def _job(address: str, job_id: str) -> dict[str, Any] | None:
    """The job as Ray's REST API has it (None: no such job)."""
    try:
        with urllib.request.urlopen(f"{address}/api/jobs/{job_id}", timeout=10) as answer:
            return dict(json.loads(answer.read()))
    except urllib.error.HTTPError as exc:
        if exc.code == 404:
            return None
        raise


def _wait_log(run: Any, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := run.read_log()):
        assert time.monotonic() < deadline, log
        time.sleep(0.2)
    return log


FRESH = """
import sys, time
from aml_jupyter import Experiment, ScriptRunConfig, Workspace
run = Experiment(Workspace(sys.argv[1]), "tests").submit(
    ScriptRunConfig(sys.argv[2], "hello.py", compute_target="ray")
)
print(run.id, sorted(m for m in sys.modules if m == "ray" or m.startswith("ray.")))
"""


def test_a_fresh_process_submits_without_importing_ray(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str
) -> None:
    ComputeCluster.attach(ws, "ray", ray_address)
    write(project, "hello.py", "print('hello from the cluster')\n")
    first = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="ray"))
    assert first.wait_for_completion()["status"] == RunStatus.COMPLETED  # packages uploaded
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", FRESH, str(ws.folder), str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    run_id, modules = done.stdout.split(" ", 1)
    assert modules.strip() == "[]"
    imported = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "http.client" in imported  # -X importtime did report
    assert not [m for m in imported if m == "ray" or m.startswith("ray.")]
    run = exp.workspace.get_run(run_id)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "hello from the cluster" in run.read_log()


@pytest.fixture
def report_says_it_fits(monkeypatch: pytest.MonkeyPatch) -> None:
    """A job that asks Ray for its share and waits pending: what a submit gets when the
    cluster's report (refreshed every second or so) still showed room another job has just
    taken. That race cannot be made to happen on demand, so the fit check is told "it fits"."""
    monkeypatch.setattr(ComputeCluster, "_fits", lambda self, asks: True)


def test_a_run_asking_more_than_the_cluster_has_waits_in_its_driver_and_cancels_at_once(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str
) -> None:
    ComputeCluster.attach(ws, "big", ray_address, cpus_per_process=8)
    write(project, "hello.py", "print('never')\n")
    run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="big"))
    assert run.get_details()["runDefinition"]["cluster"]["placed"] is True
    log = _wait_log(run, "[aml] Waiting for Ray to place the run's process (CPU 8)", timeout=60)
    _wait_log(run, "No node has that much CPU", timeout=5)
    assert "The cluster has 1 node(s)" in log
    assert run.get_status() == RunStatus.QUEUED
    # The job itself asks for nothing: Ray runs it (its driver waits), so Ray's start
    # timeout, which ends only pending jobs, never applies.
    assert _job(ray_address, run.id)["status"] == "RUNNING"  # type: ignore[index]
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=30) == RunStatus.CANCELED
    assert "Canceled while the run waited for Ray to place its processes" in run.read_log()
    deadline = time.monotonic() + 30
    while (job := _job(ray_address, run.id)) is not None and job["status"] == "RUNNING":
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    assert job is not None and job["status"] == "STOPPED", job  # nothing left waiting
    assert "never" not in run.read_log()


WAIT_FOR_FILE = """
import pathlib, sys, time
flag = pathlib.Path(sys.argv[1])
print("first is running", flush=True)
while not flag.exists():
    time.sleep(0.1)
"""


def test_a_run_that_waited_runs_once_there_is_room_and_its_output_is_whole(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str, tmp_path: Path
) -> None:
    from aml_jupyter.compute.cluster.jobs_api import RayJobs

    ComputeCluster.attach(ws, "whole", ray_address, cpus_per_process=2)
    write(project, "first.py", WAIT_FOR_FILE)
    write(project, "second.py", "print('line 1')\nprint('line 2')\n")
    flag = tmp_path / "go"
    first = exp.submit(ScriptRunConfig(project, "first.py", [str(flag)], compute_target="whole"))
    _wait_log(first, "first is running", timeout=120)
    deadline, jobs = time.monotonic() + 30, RayJobs(ray_address)
    while jobs.resources()["used"].get("CPU", 0.0) < 2:  # the report shows the head full
        assert time.monotonic() < deadline
        time.sleep(0.2)
    second = exp.submit(ScriptRunConfig(project, "second.py", compute_target="whole"))
    assert second.get_details()["runDefinition"]["cluster"]["placed"] is True
    _wait_log(second, "[aml] Waiting for Ray to place the run's process (CPU 2)", timeout=60)
    flag.touch()
    assert first.wait_for_completion()["status"] == RunStatus.COMPLETED
    details = second.wait_for_completion(timeout_seconds=120)
    assert details["status"] == RunStatus.COMPLETED and details["startTimeUtc"]
    log = second.read_log()
    # The script's output whole, after what the driver said while the run waited.
    assert log.index("Waiting for Ray to place") < log.index("line 1\nline 2\n"), log
    placed = json.loads(details["properties"]["azureml.ray.nodes"])
    assert [p["rank"] for p in placed] == [0]


def test_a_run_ray_holds_pending_says_why_and_ends_at_rays_timeout(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str, report_says_it_fits: None
) -> None:
    ComputeCluster.attach(ws, "big", ray_address, cpus_per_process=8)
    write(project, "hello.py", "print('never')\n")
    run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="big"))
    assert run.get_details()["runDefinition"]["cluster"]["placed"] is False
    log = _wait_log(run, "[aml] Waiting for Ray", timeout=10)
    # (free: as the cluster's last report has it; the tests before may still hold CPUs)
    assert re.search(r"the job asks for 8 CPUs; the cluster has 2 CPUs in all \([0-2] free\)", log)
    assert "No node has 8 CPUs (the largest has 2)" in log
    assert run.get_status() == RunStatus.QUEUED
    details = run.wait_for_completion(raise_on_error=False)  # Ray gives up after START_TIMEOUT_S
    assert details["status"] == RunStatus.FAILED
    error = run.get_details()["error"]["error"]
    assert error["code"] == "ClusterQueueTimeout"
    assert "start timeout" in error["message"] and "asking for 8 CPUs" in error["message"]
    assert "never" not in run.read_log()


def test_cancel_of_a_run_ray_holds_pending_leaves_no_ray_job(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str, report_says_it_fits: None
) -> None:
    ComputeCluster.attach(ws, "big", ray_address, cpus_per_process=8)
    write(project, "hello.py", "print('never')\n")
    run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="big"))
    _wait_log(run, "[aml] Waiting for Ray", timeout=10)
    assert _job(ray_address, run.id)["status"] == "PENDING"  # type: ignore[index]
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=20) == RunStatus.CANCELED
    assert "Canceled while the Ray job waited" in run.read_log()
    # Ray cannot drop a waiting job: it ends it at its start timeout, then our mirror
    # deletes it. It never ran meanwhile.
    seen = set()
    deadline = time.monotonic() + START_TIMEOUT_S + 30
    while (job := _job(ray_address, run.id)) is not None:
        seen.add(job["status"])
        assert time.monotonic() < deadline, seen
        time.sleep(0.5)
    assert seen <= {"PENDING", "FAILED", "STOPPED"}, seen


LONG_LOG = """
import sys, time
for half in (0, 1):
    for i in range(half * 20000, (half + 1) * 20000):
        print(f"line {i:06d} " + "x" * 50)
    sys.stdout.flush()
    time.sleep(3)  # the log is past 1 MB now: the mirror reads it from Ray's tail
print("done")
"""


def test_a_long_log_arrives_whole_and_in_order(
    ws: Workspace, exp: Experiment, project: Path, ray_address: str
) -> None:
    ComputeCluster.attach(ws, "ray", ray_address)
    write(project, "long.py", LONG_LOG)
    run = exp.submit(ScriptRunConfig(project, "long.py", compute_target="ray"))
    assert run.wait_for_completion(timeout_seconds=120)["status"] == RunStatus.COMPLETED
    lines = [line for line in run.read_log().splitlines() if line.startswith("line ")]
    assert lines == [f"line {i:06d} " + "x" * 50 for i in range(40000)]
    assert run.read_log().rstrip().endswith("done")


class _NotRay(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def test_bad_addresses_and_an_unreachable_cluster_give_clear_errors_and_no_run(
    ws: Workspace, exp: Experiment, project: Path
) -> None:
    with pytest.raises(AmlError, match="does not answer"):
        ComputeCluster.attach(ws, "nobody", f"http://127.0.0.1:{free_port()}")
    for bad in ("127.0.0.1:8265", "http://127.0.0.1:notaport", "ftp://127.0.0.1:8265"):
        with pytest.raises(AmlError, match="job-submission URL"):
            ComputeCluster.attach(ws, "bad", bad)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _NotRay)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(AmlError, match="not as a Ray dashboard"):
            ComputeCluster.attach(ws, "web", f"http://127.0.0.1:{server.server_address[1]}")
    finally:
        server.shutdown()
        server.server_close()
    # A cluster attached while it answered, gone since: the submit says so and leaves no run.
    config = {"address": f"http://127.0.0.1:{free_port()}", "cpus_per_process": 1}
    ws.store.attach_compute_target("gone", "ComputeCluster", config)
    assert ComputeCluster(ws, "gone").get_status() == "Unreachable"
    write(project, "hello.py", "print('hi')\n")
    with pytest.raises(AmlError, match=r"Cannot submit to 'gone': the Ray cluster at .* does not"):
        exp.submit(ScriptRunConfig(project, "hello.py", compute_target="gone"))
    assert ws.store.list_runs() == []

"""A real two-node Ray cluster on this machine for the cluster tests (fixture ``ray_cluster``).

A head on ``127.0.0.2`` and a second node on ``127.0.0.3`` (2 CPUs each, ~100 MiB object
store each; the second node also has 2 of a custom ``fake_gpu`` resource standing in for
GPUs, the head 1 of ``head_gpu``), each with its own temp folder and free ports (see
:mod:`aml_jupyter.compute.cluster.ray_local`). Started once per test module, stopped by PID at
its end; the teardown checks that no process of either node is left.

``make test`` runs two test files at a time: :func:`ray_on_this_machine` lets one of them at a
time start Ray, since two clusters starting at once on 2 cores overload each other's GCS
(`ray start` then gives up after its fixed 30 s).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from filelock import FileLock

from aml_jupyter import AmlError
from aml_jupyter.compute.cluster.ray_local import LocalRayHead, LocalRayNode

HEAD_IP, WORKER_IP = "127.0.0.2", "127.0.0.3"
#: The custom resource the second node has, standing in for GPUs.
FAKE_GPU = "fake_gpu"
#: One the head alone has: a single-process run asking for it runs its driver there (Ray's log
#: API reads a driver's log from the head's temp folder when all nodes share one machine).
HEAD_GPU = "head_gpu"


@contextmanager
def ray_on_this_machine() -> Iterator[None]:
    """Held while a test's Ray cluster runs: one at a time across pytest-xdist's workers (and
    test sessions); given up after 40 minutes rather than waiting for ever."""
    with FileLock(os.path.join(tempfile.gettempdir(), "aml-jupyter-tests-ray.lock"), timeout=2400):
        yield


@pytest.fixture
def ray_machine() -> Iterator[None]:
    """For a test that starts Ray itself (a notebook's): this machine's Ray lock, taken in
    the fixture so the wait for it does not count against the test's time limit."""
    with ray_on_this_machine():
        yield


@contextmanager
def one_node_head(num_cpus: int) -> Iterator[str]:
    """A one-node head for a test module (its job-submission address), one cluster at a time
    on this machine; tried three times (a loaded machine can miss Ray's fixed 30 s raylet
    wait), stopped by PID at the end with nothing of it left."""
    if shutil.which("ray", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("the `ray` command is missing: pip install 'ray[default]'")
    with ray_on_this_machine():
        head = LocalRayHead(num_cpus=num_cpus)
        try:
            for attempt in range(3):
                try:
                    address = head.start()
                    break
                except AmlError:
                    head.stop()
                    if attempt == 2:
                        raise
                    head = LocalRayHead(num_cpus=num_cpus)
            yield address
        finally:
            head.stop()
            assert head.pids() == []


class RayCluster:
    """The running cluster: its addresses, its nodes, and Ray's own view of them."""

    def __init__(self, head: LocalRayHead, worker: LocalRayNode) -> None:
        self.head, self.worker = head, worker
        assert head.address is not None
        self.address: str = head.address  # the job-submission URL
        self.head_ip, self.worker_ip = HEAD_IP, WORKER_IP

    def kill_worker_raylet(self) -> int:
        """SIGKILL the second node's raylet (the node is lost); returns its pid."""
        return self.worker.kill_raylet()

    def nodes(self) -> dict[str, Any]:
        """Ray's state API: node id -> node state (ip, state, resources)."""
        from ray.util.state import list_nodes

        return {n.node_id: n for n in list_nodes(address=self.address, detail=True)}

    def actors(self, class_name: str) -> list[Any]:
        """Ray's state API: every actor of that class (alive or dead)."""
        from ray.util.state import list_actors

        return list_actors(
            address=self.address, filters=[("class_name", "=", class_name)], detail=True, limit=1000
        )


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """The two-node cluster (see the module docstring), one per test module."""
    pytest.importorskip("ray.job_submission", reason="the cluster target needs ray[default]")
    if shutil.which("ray", path=os.path.dirname(sys.executable)) is None:
        pytest.skip("the `ray` command is missing: pip install 'ray[default]'")
    with ray_on_this_machine():
        for attempt in range(3):  # a loaded machine can miss Ray's fixed 30 s raylet wait
            head = LocalRayHead(
                num_cpus=2,
                ip=HEAD_IP,
                resources={HEAD_GPU: 1},
                object_store_mb=100,
                fast_failure_detection=True,
            )
            try:
                head.start()
                worker = head.add_node(2, WORKER_IP, {FAKE_GPU: 2}, object_store_mb=100)
                break
            except AmlError:
                head.stop()
                if attempt == 2:
                    raise
        try:
            yield RayCluster(head, worker)
        finally:
            head.stop()
            assert head.pids() == []

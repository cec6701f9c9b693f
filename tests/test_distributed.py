"""Distributed jobs on the local target: N real processes, the torch/MPI variables, kept logs."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import (
    AmlError,
    Experiment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunStatus,
    ScriptRunConfig,
)
from aml_jupyter.frontends.submit import distributed_config
from tests.conftest import write

#: The demo's torch.distributed all-reduce (gloo, CPU).
ALLREDUCE = Path(__file__).resolve().parent.parent / "demo-notebooks" / "allreduce" / "allreduce.py"

SHOW_ENV = """
    import json, os
    from azureml.core import Run
    keys = ["RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "NODE_RANK", "MASTER_ADDR",
            "MASTER_PORT", "OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "AML_DIST_BACKEND"]
    print("ENV", json.dumps({k: os.environ.get(k) for k in keys}))
    Run.get_context().log("rank_seen", int(os.environ["RANK"]))
"""


def envs_from_logs(run: Any) -> list[dict[str, str]]:
    found = []
    for name in run.get_file_names():
        if name.startswith("user_logs/std_log"):
            text = Path(run.download_file(name, run.folder / "dl" / name)).read_text()
            found += [json.loads(line[4:]) for line in text.splitlines() if line.startswith("ENV ")]
    return sorted(found, key=lambda e: int(e["RANK"]))


def test_pytorch_job_runs_one_process_per_rank(exp: Experiment, project: Path) -> None:
    write(project, "dist.py", SHOW_ENV)
    config = ScriptRunConfig(
        project,
        "dist.py",
        distributed_job_config=PyTorchConfiguration("Gloo", process_count=4, node_count=2),
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    envs = envs_from_logs(run)
    assert [e["RANK"] for e in envs] == ["0", "1", "2", "3"]
    assert {e["WORLD_SIZE"] for e in envs} == {"4"}
    assert [e["LOCAL_RANK"] for e in envs] == ["0", "1", "0", "1"]
    assert [e["NODE_RANK"] for e in envs] == ["0", "0", "1", "1"]
    assert len({e["MASTER_PORT"] for e in envs}) == 1 and envs[0]["MASTER_ADDR"] == "127.0.0.1"
    assert {e["AML_DIST_BACKEND"] for e in envs} == {"Gloo"}
    # Each process's output is kept apart; rank 0 writes the driver log.
    names = run.get_file_names()
    assert "user_logs/std_log.txt" in names and "user_logs/std_log_process_3.txt" in names
    assert sorted(run.get_metrics()["rank_seen"]) == [0, 1, 2, 3]
    assert run.get_details()["runDefinition"]["distributed"]["processCountPerNode"] == 2


def test_mpi_job_sets_the_mpi_variables(exp: Experiment, project: Path) -> None:
    write(project, "dist.py", SHOW_ENV)
    config = ScriptRunConfig(
        project, "dist.py", distributed_job_config=MpiConfiguration(process_count_per_node=2)
    )
    run = exp.submit(config)
    run.wait_for_completion()
    envs = envs_from_logs(run)
    assert [(e["OMPI_COMM_WORLD_RANK"], e["OMPI_COMM_WORLD_SIZE"]) for e in envs] == [
        ("0", "2"),
        ("1", "2"),
    ]


def test_a_failing_rank_stops_the_others_and_is_named(exp: Experiment, project: Path) -> None:
    write(
        project,
        "flaky.py",
        """
        import os, time
        if os.environ["RANK"] == "1":
            raise RuntimeError("rank one broke")
        time.sleep(60)  # would wait for rank 1 forever
        """,
    )
    config = ScriptRunConfig(
        project, "flaky.py", distributed_job_config=PyTorchConfiguration(process_count=3)
    )
    started = time.monotonic()
    run = exp.submit(config)
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=45)
    assert details["status"] == RunStatus.FAILED
    assert time.monotonic() - started < 40  # the sleeping ranks were stopped, not waited for
    message = details["error"]["error"]["message"]
    assert message.startswith("Process 1 of 3:") and "RuntimeError: rank one broke" in message


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: PyTorchConfiguration(process_count=3, node_count=2), "split evenly"),
        (lambda: MpiConfiguration(process_count_per_node=0), ">= 1"),
        (lambda: PyTorchConfiguration(node_count=True), ">= 1"),
    ],
)
def test_bad_distributed_configs(make: Any, match: str) -> None:
    with pytest.raises(AmlError, match=match):
        make()


def test_only_known_configs_are_accepted(exp: Experiment, project: Path) -> None:
    write(project, "x.py", "print(1)")
    with pytest.raises(
        AmlError, match="PyTorchConfiguration, MpiConfiguration or TensorflowConfiguration"
    ):
        exp.submit(ScriptRunConfig(project, "x.py", distributed_job_config={"nodes": 2}))
    assert list(exp.get_runs()) == []


def test_front_end_options_map_to_configs() -> None:
    assert distributed_config(None, None, None) is None
    torch = distributed_config(2, 3, "nccl")
    assert isinstance(torch, PyTorchConfiguration)
    assert (torch.process_count, torch.node_count, torch.communication_backend) == (6, 2, "nccl")
    mpi = distributed_config(None, 4, "mpi")
    assert isinstance(mpi, MpiConfiguration) and mpi.process_count_per_node == 4


def test_torch_all_reduce_with_two_processes(exp: Experiment, project: Path) -> None:
    pytest.importorskip(
        "torch", reason="torch is installed by `make test` (pip install torch==2.13.0)"
    )
    shutil.copy(ALLREDUCE, project / "allreduce.py")
    config = ScriptRunConfig(
        project, "allreduce.py", distributed_job_config=PyTorchConfiguration(process_count=2)
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert run.get_metrics() == {"allreduce_sum": 3.0}
    assert "rank 0 of 2" in run.read_log() and "sum = 3 (expected 3)" in run.read_log()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert "rank 1 of 2" in rank1 and "sum = 3" in rank1

"""MLflow in a run on the Ray cluster target (a real one-machine Ray head): the script's
MLflow writes into the node's scratch workspace, as ``Run.get_context()`` does there, and the
Ray driver brings its params, metrics and artifacts back with the run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter import ComputeCluster, Experiment, RunStatus, ScriptRunConfig
from tests.conftest import write
from tests.raycluster import one_node_head

pytest.importorskip("ray.job_submission", reason="the cluster target's tests need ray[default]")
pytest.importorskip("mlflow", reason="MLflow's tests need mlflow-skinny (the dev extra)")

SCRIPT = """
    import os
    import mlflow

    with mlflow.start_run() as run:
        assert run.info.run_id == os.environ["AML_RUN_ID"]
        mlflow.log_param("lr", 0.1)
        for i in range(3):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        open("notes.txt", "w").write("from ray")
        mlflow.log_artifact("notes.txt", artifact_path="docs")
    print("tracking uri", mlflow.get_tracking_uri())
"""


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with one_node_head(num_cpus=2) as address:
        yield address


def test_mlflow_in_a_ray_run_comes_back(exp: Experiment, project: Path, ray_address: str) -> None:
    ComputeCluster.attach(exp.workspace, "ray", ray_address)
    write(project, "train.py", SCRIPT)
    run = exp.submit(ScriptRunConfig(project, "train.py", compute_target="ray"))
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=240)
    assert details["status"] == RunStatus.COMPLETED, run.read_log()
    log = run.read_log()
    assert "tracking uri aml://" in log and exp.workspace.get_mlflow_tracking_uri() not in log
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}
    assert run.get_tags()["lr"] == "0.1" and run.get_properties()["mlflow.param.lr"] == "0.1"
    target = run.download_file("outputs/docs/notes.txt", project / "n.txt")
    assert Path(target).read_text() == "from ray"

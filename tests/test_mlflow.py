"""MLflow into our runs, with a real mlflow client (mlflow-skinny) and real runs.

This process finds the ``aml`` plugins the way a run's interpreter does: through
``aml_jupyter/_mlflow_plugin`` (package metadata) on its path, put there before mlflow is
imported; ``test_the_entry_points_are_the_same_in_both_places`` checks it says what
pyproject.toml says.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
import time
from pathlib import Path

from aml_jupyter.paths import MLFLOW_PLUGIN_DIR

if str(MLFLOW_PLUGIN_DIR) not in sys.path:
    sys.path.insert(0, str(MLFLOW_PLUGIN_DIR))
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # read when mlflow is imported

import mlflow
import mlflow.sklearn
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mlflow.exceptions import MlflowException

from aml_jupyter import (
    AmlError,
    ComputeInstance,
    Experiment,
    Model,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.local.script_process import script_environment
from aml_jupyter.frontends.mlflow.address import parse_artifact_uri, workspace_of
from tests.conftest import write
from tests.test_compute_instance import Agent, agent, box  # noqa: F401 (fixtures)

ROOT = Path(__file__).resolve().parent.parent

AUTOLOG = """
    import os
    import mlflow
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    mlflow.autolog()
    X, y = load_iris(return_X_y=True)
    with mlflow.start_run() as run:
        assert run.info.run_id == os.environ["AML_RUN_ID"], run.info.run_id  # attached: ours
        LogisticRegression(max_iter=300, C=0.5).fit(X, y)
        for i in range(3):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i * 10)
        open("notes.txt", "w").write("hello")
        mlflow.log_artifact("notes.txt", artifact_path="docs")
        with mlflow.start_run(nested=True, run_name="fold-1") as child:
            mlflow.log_param("fold", 1)
            mlflow.log_metric("acc", 0.9)
    print("mlflow run", run.info.run_id, "child", child.info.run_id)
"""


ON_AGENT = """
    import os
    import mlflow

    with mlflow.start_run() as run:
        assert run.info.run_id == os.environ["AML_RUN_ID"]
        mlflow.log_param("lr", 0.1)
        for i in range(3):
            mlflow.log_metric("loss", 1.0 / (i + 1), step=i)
        open("notes.txt", "w").write("from the agent")
        mlflow.log_artifact("notes.txt")
    print("tracking uri", mlflow.get_tracking_uri())
"""


@pytest.fixture
def tracked(ws: Workspace) -> Workspace:
    """``ws`` as MLflow's tracking URI in this process (the notebook side)."""
    mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())
    yield ws
    while mlflow.active_run():
        mlflow.end_run()


def test_autolog_of_a_sklearn_fit_in_a_submitted_run(exp: Experiment, project: Path) -> None:
    write(project, "train.py", AUTOLOG)
    run = exp.submit(ScriptRunConfig(project, "train.py"))
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=240)
    assert details["status"] == RunStatus.COMPLETED, run.read_log()
    # params: tags, as v1 kept them, and immutable properties that tell them from tags
    tags, props = run.get_tags(), run.get_properties()
    assert tags["C"] == "0.5" and tags["max_iter"] == "300"
    assert props["mlflow.param.C"] == "0.5"
    metrics = run.get_metrics()
    assert metrics["loss"] == [1.0, 0.5, 1.0 / 3]
    assert 0.8 < metrics["training_accuracy_score"] <= 1.0
    assert [p["step"] for p in run.get_metric_history("loss")] == [0, 10, 20]
    files = set(run.get_file_names())
    assert {"outputs/model/MLmodel", "outputs/model/model.pkl", "outputs/docs/notes.txt"} <= files
    # the nested run is our child run, ended by MLflow
    (child,) = run.get_children()
    assert child.display_name == "fold-1" and child.get_status() == RunStatus.COMPLETED
    assert child.get_tags()["fold"] == "1" and child.get_metrics() == {"acc": 0.9}
    # the logged model is a folder of run files we register and read back
    model = run.register_model("iris-mlflow", model_path="outputs/model")
    assert model.version == 1 and Model(exp.workspace, "iris-mlflow").run_id == run.id
    target = Path(model.download(str(project / "dl")))
    assert (target / "MLmodel").is_file() or (target / "model" / "MLmodel").is_file()
    # MLflow's own client reads the same run back
    mlflow.set_tracking_uri(exp.workspace.get_mlflow_tracking_uri())
    seen = mlflow.MlflowClient().get_run(run.id)
    assert seen.data.params["C"] == "0.5" and "C" not in seen.data.tags
    assert seen.info.status == "FINISHED" and seen.info.experiment_id == exp.name
    loaded = mlflow.sklearn.load_model(f"runs:/{run.id}/model")
    assert loaded.predict([[5.1, 3.5, 1.4, 0.2]]).tolist() == [0]


def test_a_notebook_run_through_the_tracking_uri(tracked: Workspace, tmp_path: Path) -> None:
    mlflow.set_experiment("from-notebook")
    t0 = int(time.time() * 1000) - 5000
    with mlflow.start_run(run_name="nb") as active:
        mlflow.log_params({"lr": 0.1, "layers": 3})
        for i in range(4):
            mlflow.log_metric("loss", 1.0 - i / 10, step=i, timestamp=t0 + i)
        mlflow.set_tag("team", "ml")
        (tmp_path / "a.txt").write_text("A")
        mlflow.log_artifact(str(tmp_path / "a.txt"))
        with mlflow.start_run(nested=True, run_name="inner") as inner:
            mlflow.log_metric("x", 2.0)
    run = tracked.get_run(active.info.run_id)
    assert run.experiment.name == "from-notebook" and run.display_name == "nb"
    assert run.get_status() == RunStatus.COMPLETED  # MLflow ended it: it was MLflow's run
    assert run.get_tags()["team"] == "ml" and run.get_tags()["lr"] == "0.1"
    assert [c.id for c in run.get_children()] == [inner.info.run_id]
    assert "outputs/a.txt" in run.get_file_names()
    client = mlflow.MlflowClient()
    history = client.get_metric_history(run.id, "loss")
    assert [(m.step, m.timestamp, m.value) for m in history] == [
        (i, t0 + i, 1.0 - i / 10) for i in range(4)
    ]
    data = client.get_run(run.id).data
    assert data.params == {"lr": "0.1", "layers": "3"} and data.metrics == {"loss": 0.7}
    assert data.tags["team"] == "ml" and data.tags["mlflow.runName"] == "nb"
    found = mlflow.search_runs(experiment_names=["from-notebook"], output_format="list")
    assert {r.info.run_id for r in found} == {run.id, inner.info.run_id}
    only = client.search_runs([run.experiment.id], "params.lr = '0.1'")
    assert [r.info.run_id for r in only] == [run.id]
    back = mlflow.artifacts.download_artifacts(
        f"runs:/{run.id}/a.txt", dst_path=str(tmp_path / "d")
    )
    assert Path(back).read_text() == "A"
    assert [f.path for f in client.list_artifacts(run.id)] == ["a.txt"]
    # an exception ends MLflow's run Failed, and ours with it
    with pytest.raises(ValueError), mlflow.start_run() as failing:
        raise ValueError("boom")
    assert tracked.get_run(failing.info.run_id).get_status() == RunStatus.FAILED


def test_a_changed_param_is_refused_and_nothing_is_written(tracked: Workspace) -> None:
    mlflow.set_experiment("params")
    with mlflow.start_run() as active:
        mlflow.log_param("alpha", 1)
        with pytest.raises(MlflowException) as info:
            mlflow.log_params({"alpha": 2, "beta": 3})
        assert isinstance(info.value, AmlError) and "immutable" in str(info.value)
    run = tracked.get_run(active.info.run_id)
    assert run.get_tags()["alpha"] == "1" and "beta" not in run.get_tags()


def test_bad_addresses_say_what_to_do(
    tmp_path: Path, tracked: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = "aml://" + str(tmp_path / "nowhere" / ".aml")
    with pytest.raises(AmlError, match=r"No workspace at .*get_mlflow_tracking_uri"):
        mlflow.MlflowClient(missing).search_experiments()
    monkeypatch.chdir(tmp_path.parent)  # no workspace here or above; none in AML_WORKSPACE
    with pytest.raises(AmlError, match=r"no \.aml workspace"):
        mlflow.MlflowClient("aml:").search_experiments()
    with pytest.raises(AmlError, match="Experiment name"):
        mlflow.MlflowClient().create_experiment("bad name!")
    with pytest.raises(AmlError, match="No run 'nope'"):
        mlflow.MlflowClient().get_run("nope")
    mlflow.set_experiment("paths")
    with mlflow.start_run() as active:
        (tmp_path / "f.txt").write_text("x")
        with pytest.raises(AmlError, match="artifact path"):
            mlflow.log_artifact(str(tmp_path / "f.txt"), artifact_path="../../escape")
    assert tracked.get_run(active.info.run_id).get_file_names() == []


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(max_size=60))
def test_any_address_names_a_workspace_or_says_what_is_wrong(tail: str) -> None:
    """What a user (or MLflow) passes as a URI: a workspace, or an AmlError; nothing else."""
    for uri in ("aml:" + tail, "aml://" + tail, "aml:///" + tail, tail):
        for read in (workspace_of, parse_artifact_uri):
            try:
                read(uri)
            except AmlError as exc:
                assert str(exc)


def test_every_run_gets_the_mlflow_variables(ws: Workspace) -> None:
    env = script_environment(ws, "r_1", "exp")
    assert env["MLFLOW_TRACKING_URI"] == ws.get_mlflow_tracking_uri()
    assert env["MLFLOW_TRACKING_URI"] == "aml://" + ws.folder.as_posix()
    assert env["MLFLOW_RUN_ID"] == "r_1" and env["MLFLOW_EXPERIMENT_NAME"] == "exp"
    assert str(MLFLOW_PLUGIN_DIR) in env["PYTHONPATH"].split(os.pathsep)
    # An environment that names its own MLflow server keeps it, without our run id.
    spec = {
        "environment_variables": {"MLFLOW_TRACKING_URI": "http://mlflow.example:5000"},
        "python": {"user_managed_dependencies": True},
    }
    env = script_environment(ws, "r_1", "exp", spec, sys.executable)
    assert env["MLFLOW_TRACKING_URI"] == "http://mlflow.example:5000"
    assert "MLFLOW_RUN_ID" not in env


def test_the_entry_points_are_the_same_in_both_places() -> None:
    declared: dict[str, dict[str, str]] = {}
    group = None
    for line in (ROOT / "pyproject.toml").read_text().splitlines():  # no tomllib on 3.10
        if line.startswith("["):
            found = re.fullmatch(r'\[project\.entry-points\."([^"]+)"\]', line.strip())
            group = found.group(1) if found else None
        elif group and "=" in line:
            key, _, value = line.partition("=")
            declared.setdefault(group, {})[key.strip()] = value.strip().strip('"')
    parser = configparser.ConfigParser()
    parser.read(next(MLFLOW_PLUGIN_DIR.glob("*.dist-info")) / "entry_points.txt")
    shipped = {group: dict(parser[group]) for group in parser.sections()}
    mine = {g: v for g, v in declared.items() if g.startswith("mlflow.")}
    assert mine == shipped and set(shipped) == {
        "mlflow.tracking_store",
        "mlflow.artifact_repository",
    }


def test_mlflow_in_a_run_on_a_compute_instance_comes_back(
    exp: Experiment,
    project: Path,
    box: ComputeInstance,  # noqa: F811
    agent: Agent,  # noqa: F811
) -> None:
    write(project, "train.py", ON_AGENT)
    run = exp.submit(ScriptRunConfig(project, "train.py", compute_target="box"))
    details = run.wait_for_completion(raise_on_error=False, timeout_seconds=120)
    assert details["status"] == RunStatus.COMPLETED, run.read_log()
    # The script's MLflow wrote into the agent's workspace, as Run.get_context() does there ...
    assert f"tracking uri {agent.workspace.get_mlflow_tracking_uri()}" in run.read_log()
    # ... and the mirror brought it back like any run's metrics, tags and ./outputs.
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}
    assert run.get_tags()["lr"] == "0.1" and run.get_properties()["mlflow.param.lr"] == "0.1"
    target = run.download_file("outputs/notes.txt", project / "n.txt")
    assert Path(target).read_text() == "from the agent"
    client = mlflow.MlflowClient(exp.workspace.get_mlflow_tracking_uri())
    assert client.get_run(run.id).data.params == {"lr": "0.1"}


def test_run_log_keeps_a_given_time_and_refuses_a_bad_one(exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None, outputs=None)
    run.log("loss", 0.5, step=3, timestamp=1_700_000_000.25)
    for bad in ("now", -1, float("nan"), True, 1e13):
        with pytest.raises(AmlError, match="timestamp"):
            run.log("loss", 0.1, timestamp=bad)
    run.complete()
    assert run.get_metric_history("loss") == [{"step": 3, "value": 0.5, "time": 1_700_000_000.25}]

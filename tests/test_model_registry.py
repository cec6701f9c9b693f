"""The model registry: versions, lineage, tags, download, paths, bad input (real runs)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aml_jupyter import AmlError, Experiment, Model, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.frontends.cli.main import main as aml
from tests.conftest import write

TRAIN = """
    import os, pickle
    from azureml.core import Run
    os.makedirs("outputs/model", exist_ok=True)
    pickle.dump({"weights": [1, 2, 3]}, open("outputs/model.pkl", "wb"))
    open("outputs/model/config.json", "w").write('{"layers": 2}')
    open("outputs/model/weights.bin", "wb").write(b"\\x00\\x01")
    Run.get_context().log("accuracy", 0.9)
"""


@pytest.fixture
def trained(exp: Experiment, project: Path):  # type: ignore[no-untyped-def]
    write(project, "train.py", TRAIN)
    run = exp.submit(ScriptRunConfig(project, "train.py"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    return run


def test_register_from_a_run_keeps_lineage_and_costs_no_copy(ws: Workspace, trained) -> None:  # type: ignore[no-untyped-def]
    blobs_before = sum(1 for p in ws.blobs.root.rglob("*") if p.is_file())
    model = trained.register_model(
        "iris", "outputs/model.pkl", tags={"stage": "dev"}, model_framework="ScikitLearn",
        model_framework_version="1.5", description="first",
    )  # fmt: skip
    # Only the small manifest is new: the file is the run's own blob.
    assert sum(1 for p in ws.blobs.root.rglob("*") if p.is_file()) == blobs_before + 1
    assert (model.name, model.version, model.id) == ("iris", 1, "iris:1")
    assert model.run_id == trained.id and model.experiment_name == "tests"
    assert model.run == trained and model.tags == {"stage": "dev"}
    assert model.model_framework == "ScikitLearn" and model.description == "first"
    again = trained.register_model("iris", "outputs/model.pkl")
    assert again.version == 2 and Model(ws, "iris").version == 2  # latest by default
    assert Model(ws, "iris", version=1).tags == {"stage": "dev"}
    assert Model(ws, id="iris:1") == model and Model(ws, "iris:1") == model
    folder = trained.register_model("net", "outputs/model")
    assert sorted(folder.get_file_names()) == ["config.json", "weights.bin"]
    assert folder.serialize()["isFolder"] is True and folder.size == len('{"layers": 2}') + 2


def test_register_a_local_file_or_folder_and_download_it(ws: Workspace, tmp_path: Path) -> None:
    write(tmp_path, "m/a.txt", "A")
    write(tmp_path, "m/sub/b.txt", "B")
    write(tmp_path, "single.onnx", "onnx")
    folder = Model.register(ws, tmp_path / "m", "folder-model", properties={"k": "v"})
    single = Model.register(ws, str(tmp_path / "single.onnx"), "single")
    got = Path(folder.download(tmp_path / "out"))
    assert got == tmp_path / "out" / "m" and (got / "sub" / "b.txt").read_text() == "B"
    with pytest.raises(AmlError, match="exist_ok=True"):
        folder.download(tmp_path / "out")
    folder.download(tmp_path / "out", exist_ok=True)
    assert Path(single.download(tmp_path / "out")).read_text() == "onnx"
    assert folder.run_id is None and folder.properties == {"k": "v"}
    # A path to load from: unpacked once into the workspace's model cache.
    path = Path(Model.get_model_path("single", _workspace=ws))
    assert path.read_text() == "onnx" and path.is_relative_to(ws.folder)


def test_list_filters_and_latest(ws: Workspace, trained) -> None:  # type: ignore[no-untyped-def]
    trained.register_model("a", "outputs/model.pkl", tags={"stage": "prod", "team": "x"})
    trained.register_model("a", "outputs/model.pkl", tags={"stage": "dev"})
    Model.register(
        ws, trained.download_file("outputs/model.pkl", "m.pkl"), "b", properties={"p": "1"}
    )
    assert [m.id for m in Model.list(ws)] == ["b:1", "a:2", "a:1"]
    assert [m.id for m in Model.list(ws, latest=True)] == ["b:1", "a:2"]
    assert [m.id for m in Model.list(ws, tags=["team"])] == ["a:1"]
    assert [m.id for m in Model.list(ws, tags=[["stage", "dev"]])] == ["a:2"]
    assert [m.id for m in Model.list(ws, properties=[["p", "1"]])] == ["b:1"]
    assert [m.id for m in Model.list(ws, run_id=trained.id)] == ["a:2", "a:1"]
    assert [m.id for m in Model.list(ws, name="a", latest=True)] == ["a:2"]
    assert set(ws.models) == {"a", "b"} and ws.models["a"].version == 2


def test_tags_properties_update_delete(ws: Workspace, trained) -> None:  # type: ignore[no-untyped-def]
    model = trained.register_model("m", "outputs/model.pkl", tags={"a": "1"})
    model.add_tags({"b": "2"})
    model.remove_tags("a")
    assert model.tags == {"b": "2"}
    model.add_properties({"p": "x"})
    model.add_properties({"p": "changed"})  # write-once, as v1
    assert model.properties["p"] == "x"
    model.update(tags={"only": "this"}, description="better")
    again = Model(ws, "m")
    assert again.tags == {"only": "this"} and again.description == "better"
    Model.get_model_path("m", _workspace=ws)
    model.delete()
    with pytest.raises(AmlError, match="No model 'm'"):
        Model(ws, "m")
    assert not (ws.folder / "models" / "m" / "1").exists()
    assert trained.get_file_names()  # the run's files are untouched


def test_bad_input_is_refused_with_nothing_written(ws: Workspace, trained, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(AmlError, match="not allowed"):
        trained.register_model("bad name!", "outputs/model.pkl")
    with pytest.raises(
        AmlError, match=r"has no file or folder 'outputs/nope.pkl'.*outputs/model.pkl"
    ):
        trained.register_model("m", "outputs/nope.pkl")
    with pytest.raises(AmlError, match=r"\.\."):
        trained.register_model("m", "../outside")
    with pytest.raises(AmlError, match="does not exist"):
        Model.register(ws, tmp_path / "missing.pkl", "m")
    with pytest.raises(AmlError, match="tags must be a dict"):
        trained.register_model("m", "outputs/model.pkl", tags=["x"])
    with pytest.raises(AmlError, match="whole number"):
        Model(ws, "m", version="latest")
    assert Model.list(ws) == []
    with pytest.raises(AmlError, match="none yet"):
        Model(ws, "m")


def test_cli_register_list_show_download_delete(
    ws: Workspace,
    trained,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],  # type: ignore[no-untyped-def]
) -> None:
    w = ["-w", str(ws.folder)]
    assert aml(["model", "register", "iris", "outputs/model.pkl", "--run", trained.id, "--tag", "stage=dev", "--framework", "ScikitLearn", *w]) == 0  # fmt: skip
    assert capsys.readouterr().out.strip() == "iris:1"
    write(tmp_path, "local.bin", "L")
    assert aml(["model", "register", "iris", str(tmp_path / "local.bin"), *w]) == 0
    capsys.readouterr()
    assert aml(["model", "list", "--json", *w]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == ["iris:2", "iris:1"] and rows[1]["runId"] == trained.id
    assert aml(["model", "list", "--tag", "stage=dev", *w]) == 0
    table = capsys.readouterr().out
    assert "iris" in table and "ScikitLearn" in table and "local.bin" not in table
    assert aml(["model", "show", "iris:1", *w]) == 0
    assert json.loads(capsys.readouterr().out)["tags"] == {"stage": "dev"}
    assert aml(["model", "download", "iris:1", "-o", str(tmp_path / "dl"), *w]) == 0
    assert (tmp_path / "dl" / "model.pkl").exists()
    assert aml(["model", "download", "iris:1", "-o", str(tmp_path / "dl"), *w]) == 2
    assert "exist_ok" in capsys.readouterr().err
    assert aml(["model", "delete", "iris:2", *w]) == 0
    assert [m.id for m in Model.list(ws)] == ["iris:1"]
    assert aml(["model", "delete", "iris", *w]) == 2  # a version must be named

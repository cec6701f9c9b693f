"""Datasets into and out of real runs on the local target: mount, download and direct inputs
read by scripts written with v1's names, an output uploaded and registered when the run
completes (nothing when it fails), lineage in get_details and on a registered model."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import (
    AmlError,
    Dataset,
    Datastore,
    Experiment,
    Model,
    OutputFileDatasetConfig,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.data.output_config import destination_path, resolve_path
from tests.conftest import wait_status, write

DONE = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)


def _csv_folder(root: Path) -> Path:
    data = root / "data"
    write(data, "a.csv", "x,y\n1,2\n3,4\n")
    write(data, "sub/b.csv", "x,y\n5,6\n")
    return data


def _finished(run) -> str:  # type: ignore[no-untyped-def]
    status = wait_status(run, DONE, timeout=90)
    if status != RunStatus.COMPLETED:
        print(run.get_details().get("error"), run.get_file_names())
    return status


def _driver_log(run) -> str:  # type: ignore[no-untyped-def]
    return Path(
        run.download_file("user_logs/std_log.txt", str(Path(run._ws.folder) / "log.txt"))
    ).read_text()


READER = """
    import argparse, json, os, sys
    from azureml.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--data")
    p.add_argument("--mode")
    a = p.parse_args()
    run = Run.get_context()
    files = sorted(
        os.path.relpath(os.path.join(d, f), a.data) for d, _, fs in os.walk(a.data) for f in fs
    )
    text = open(os.path.join(a.data, "sub", "b.csv")).read()
    os.makedirs("outputs", exist_ok=True)
    json.dump(
        {
            "files": files,
            "text": text,
            "env_list": os.environ["AZUREML_DATASET_ENVIRONMENT_VARS"],
            "env_value": os.environ["train"],
            "input_datasets": run.input_datasets["train"],
            "arg": a.data,
        },
        open("outputs/seen.json", "w"),
    )
"""


@pytest.mark.parametrize("mode", ["mount", "download"])
def test_a_file_dataset_reaches_the_script_as_a_local_folder(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path, mode: str
) -> None:
    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data)).register(ws, "csvs")
    write(project, "read.py", READER)
    named = ds.as_named_input("train")
    consumption = named.as_mount() if mode == "mount" else named.as_download()
    run = exp.submit(ScriptRunConfig(project, "read.py", arguments=["--data", consumption]))
    assert _finished(run) == RunStatus.COMPLETED
    seen = json.loads(
        Path(run.download_file("outputs/seen.json", str(tmp_path / "s.json"))).read_text()
    )
    assert seen["files"] == ["a.csv", "sub/b.csv"]
    assert seen["text"] == "x,y\n5,6\n"
    assert seen["env_list"] == f"train:{mode}"
    assert seen["env_value"] == seen["arg"] == seen["input_datasets"]
    # The definition keeps the placeholder and the spec, never a local path or a secret.
    definition = run.get_details()["runDefinition"]
    assert definition["arguments"] == ["--data", "DatasetConsumptionConfig:train"]
    assert definition["inputDatasets"] == [
        {"name": "train", "mode": mode, "pathOnCompute": None, "datasetId": ds.id, "kind": "file"}
    ]
    # Lineage: the version read, in v1's shape.
    [entry] = run.get_details()["inputDatasets"]
    assert entry["dataset"] == {"id": ds.id, "name": "csvs", "version": 1}
    assert entry["consumptionDetails"] == {
        "type": "RunInput",
        "inputName": "train",
        "mechanism": mode.capitalize(),
    }
    # The mount (links) and the download are gone after the run; the data itself stays.
    assert not (ws.store.run_folder(run.id).datasets).exists()
    assert (data / "sub" / "b.csv").read_text() == "x,y\n5,6\n"
    assert sorted(run.input_datasets) == ["train"] and run.input_datasets["train"].id == ds.id


def test_a_tabular_dataset_direct_reads_as_a_dataframe_in_the_script(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    data = _csv_folder(tmp_path)
    table = Dataset.Tabular.from_delimited_files(str(data / "a.csv"))  # unregistered: saved
    write(
        project,
        "train.py",
        """
        import sys
        from azureml.core import Run, Dataset

        run = Run.get_context()
        df = run.input_datasets["rows"].to_pandas_dataframe()
        assert sys.argv[1] == run.input_datasets["rows"].id, sys.argv
        run.log("total", float(df["x"].sum() + df["y"].sum()))
        run.log("rows", len(df))
        """,
    )
    config = ScriptRunConfig(project, "train.py", arguments=[table.as_named_input("rows")])
    run = exp.submit(config)
    assert _finished(run) == RunStatus.COMPLETED
    assert run.get_metrics() == {"total": 10.0, "rows": 2}
    [entry] = run.get_details()["inputDatasets"]
    assert entry["consumptionDetails"]["mechanism"] == "Direct"
    assert entry["dataset"]["name"] is None  # saved, not registered: no name, an id
    assert Dataset.get_by_id(ws, entry["dataset"]["id"]).to_pandas_dataframe()["x"].tolist() == [
        1,
        3,
    ]
    assert ws.datasets == {}  # a saved dataset is never listed among the registered ones


def test_a_plain_dataset_argument_is_a_direct_input_named_after_it(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    data = _csv_folder(tmp_path)
    ds = Dataset.Tabular.from_delimited_files(str(data / "a.csv")).register(ws, "rows")
    other = Dataset.File.from_files(str(data))  # unregistered: input_2
    write(
        project,
        "show.py",
        """
        import os, sys
        from azureml.core import Run
        run = Run.get_context()
        print("ENV", os.environ["AZUREML_DATASET_ENVIRONMENT_VARS"])
        print("ARGS", sys.argv[1:] == [os.environ["rows"], os.environ["input_2"]])
        print("KIND", type(run.input_datasets["input_2"]).__name__)
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "show.py", arguments=[ds, other]))
    assert _finished(run) == RunStatus.COMPLETED
    log = _driver_log(run)
    assert "ENV rows:direct,input_2:direct" in log
    assert "ARGS True" in log and "KIND FileDataset" in log


WRITER = """
    import os, sys
    from azureml.core import Run
    run = Run.get_context()
    out = sys.argv[1]
    assert out == run.output_datasets["model_data"] == os.environ["model_data"], out
    assert os.environ["AZUREML_DATASET_FILE_OUTPUTS"] == "model_data"
    os.makedirs(os.path.join(out, "deep"), exist_ok=True)
    open(os.path.join(out, "deep", "part.txt"), "w").write("written by the run")
    os.symlink("/etc/passwd", os.path.join(out, "planted"))  # a link is never uploaded
    if len(sys.argv) > 2:
        sys.exit("failing on purpose")
"""


def test_an_output_is_uploaded_and_registered_when_the_run_completes(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    store = Datastore.register_local(
        ws, "results", str(tmp_path / "results"), create_if_not_exists=True
    )
    write(project, "write.py", WRITER)
    output = (
        OutputFileDatasetConfig("model_data", destination=(store, "runs/{run-id}/{output-name}"))
        .as_upload(overwrite=False)
        .register_on_complete("prepared", description="from a run", tags={"k": "v"})
    )
    run = exp.submit(ScriptRunConfig(project, "write.py", arguments=[output]))
    assert _finished(run) == RunStatus.COMPLETED
    landed = tmp_path / "results" / "runs" / run.id / "model_data"
    assert (landed / "deep" / "part.txt").read_text() == "written by the run"
    assert not (landed / "planted").exists()
    registered = Dataset.get_by_name(ws, "prepared")
    assert registered.to_path() == ["/deep/part.txt"]
    assert registered.description == "from a run" and registered.tags == {"k": "v"}
    [entry] = run.get_details()["outputDatasets"]
    assert entry["outputDetails"] == {"outputName": "model_data"}
    assert entry["dataset"] == {"id": registered.id, "name": "prepared", "version": 1}
    assert run.output_datasets["model_data"].id == registered.id
    assert "1 file(s) uploaded to results/runs/" in _driver_log(run)
    assert run.get_details()["runDefinition"]["arguments"] == ["DatasetOutputConfig:model_data"]


def test_a_failed_run_uploads_nothing_and_says_so(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    store = Datastore.register_local(
        ws, "results", str(tmp_path / "results"), create_if_not_exists=True
    )
    write(project, "write.py", WRITER)
    output = OutputFileDatasetConfig("model_data", destination=(store, "x/{run-id}"))
    run = exp.submit(ScriptRunConfig(project, "write.py", arguments=[output, "fail"]))
    assert wait_status(run, DONE, timeout=90) == RunStatus.FAILED
    assert not (tmp_path / "results" / "x").exists()
    assert "were not uploaded (outputs are uploaded only when a run completes" in _driver_log(run)
    assert run.get_details()["outputDatasets"] == []
    assert not ws.store.run_folder(run.id).datasets.exists()


def test_an_existing_destination_fails_the_run_unless_overwrite(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    store = Datastore.register_local(
        ws, "results", str(tmp_path / "results"), create_if_not_exists=True
    )
    write(tmp_path / "results" / "fixed", "deep/part.txt", "old")
    write(project, "write.py", WRITER)
    output = OutputFileDatasetConfig("model_data", destination=(store, "fixed")).as_upload()
    run = exp.submit(ScriptRunConfig(project, "write.py", arguments=[output]))
    assert wait_status(run, DONE, timeout=90) == RunStatus.FAILED
    assert "exist already" in run.get_details()["error"]["error"]["message"]
    assert (tmp_path / "results" / "fixed" / "deep" / "part.txt").read_text() == "old"
    again = exp.submit(
        ScriptRunConfig(project, "write.py", arguments=[output.as_upload(overwrite=True)])
    )
    assert _finished(again) == RunStatus.COMPLETED
    assert (
        tmp_path / "results" / "fixed" / "deep" / "part.txt"
    ).read_text() == "written by the run"


def test_a_model_keeps_the_datasets_it_was_made_from(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data)).register(ws, "csvs")
    write(
        project,
        "m.py",
        "import os\nos.makedirs('outputs', exist_ok=True)\nopen('outputs/m.pkl','w').write('m')",
    )
    run = exp.submit(
        ScriptRunConfig(project, "m.py", arguments=[ds.as_named_input("train").as_mount()])
    )
    assert _finished(run) == RunStatus.COMPLETED
    model = run.register_model("m", "outputs/m.pkl", datasets=[("training", ds)])
    assert {k: [d.id for d in v] for k, v in model.datasets.items()} == {"training": [ds.id]}
    unregistered = Dataset.File.from_files(str(data / "a.csv"))
    local = Model.register(
        ws, str(data / "a.csv"), "local", datasets=[("validation", unregistered)]
    )
    [saved] = Model(ws, "local").datasets["validation"]
    assert saved.id == local.datasets["validation"][0].id and saved.name is None
    with pytest.raises(AmlError, match="scenario, dataset"):
        Model.register(ws, str(data / "a.csv"), "bad", datasets=[ds])


def test_bad_dataset_arguments_are_refused_before_a_run_exists(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data))
    write(project, "x.py", "print(1)")
    for arguments, message in (
        ([ds.as_named_input("a"), ds.as_named_input("a").as_mount()], "Two of the run's datasets"),
        ([ds.as_named_input("PATH")], "may not be named 'PATH'"),
        ([ds.as_named_input("d").as_mount("../escape")], "path_on_compute"),
    ):
        with pytest.raises(AmlError, match=message):
            exp.submit(ScriptRunConfig(project, "x.py", arguments=arguments))
    with pytest.raises(AmlError, match="placeholders"):
        OutputFileDatasetConfig("o", destination=(ws.get_default_datastore(), "a/{date}"))
    with pytest.raises(AmlError, match="Only FileDataset supports mount"):
        Dataset.Tabular.from_delimited_files(str(data / "a.csv")).as_named_input("t").as_mount()
    assert list(exp.get_runs()) == []


def test_a_changed_input_fails_the_run_naming_it(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data)).register(ws, "csvs")
    (data / "a.csv").write_text("x,y\n9,9\n")  # the registered version's bytes changed
    write(project, "x.py", "print(1)")
    run = exp.submit(
        ScriptRunConfig(project, "x.py", arguments=[ds.as_named_input("d").as_download()])
    )
    assert wait_status(run, DONE, timeout=90) == RunStatus.FAILED
    error = run.get_details()["error"]["error"]
    assert error["code"] == "DatasetInputFailed" and "Input dataset 'd'" in error["message"]


_SEGMENT = st.text(
    st.characters(codec="ascii", exclude_characters="/{}\\\0"), min_size=1, max_size=8
)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.one_of(_SEGMENT, st.sampled_from(["{run-id}", "{output-name}", "..", "{x}"])),
        min_size=1,
        max_size=5,
    )
)
def test_destination_paths_hold_only_v1s_placeholders(parts: list[str]) -> None:
    path = "/".join(parts)
    try:
        checked = destination_path(path)
    except AmlError:
        assert ".." in parts or "{x}" in parts or not path.strip("/ ")
        return
    assert ".." not in parts and "{x}" not in parts
    resolved = resolve_path(checked, "run_1", "out")
    assert "{" not in resolved and "}" not in resolved and not resolved.startswith("/")


def test_an_unnamed_output_goes_to_v1s_default_destination(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    importlib.import_module("aml_jupyter.azureml")  # v1's module names, as in a notebook
    from azureml.data.output_dataset_config import OutputFileDatasetConfig as V1Output

    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data))
    write(
        project,
        "copy.py",
        """
        import os, shutil, sys
        shutil.copytree(sys.argv[1], os.path.join(sys.argv[2], "copied"), dirs_exist_ok=True)
        """,
    )
    inp = ds.as_named_input("src").as_mount("nested/here")
    run = exp.submit(ScriptRunConfig(project, "copy.py", arguments=[inp, V1Output()]))
    assert _finished(run) == RunStatus.COMPLETED
    store = ws.get_default_datastore()
    landed = Path(store.fs_path(f"dataset/{run.id}/output_1")) / "copied"
    assert sorted(p.relative_to(landed).as_posix() for p in landed.rglob("*.csv")) == [
        "a.csv",
        "sub/b.csv",
    ]
    [out] = run.get_details()["outputDatasets"]
    assert out["dataset"]["name"] is None  # saved, not registered
    assert Dataset.get_by_id(ws, out["dataset"]["id"]).to_path() == [
        "/copied/a.csv",
        "/copied/sub/b.csv",
    ]


def test_an_estimators_inputs_reach_the_script_by_name(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    from aml_jupyter import Estimator

    data = _csv_folder(tmp_path)
    ds = Dataset.File.from_files(str(data)).register(ws, "csvs")
    write(
        project,
        "est.py",
        """
        import os, sys
        from azureml.core import Run
        run = Run.get_context()
        folder = run.input_datasets["train"]
        print("READ", open(os.path.join(folder, "a.csv")).read().splitlines()[1], sys.argv[1:])
        """,
    )
    est = Estimator(
        project,
        entry_script="est.py",
        script_params={"--lr": 0.1},
        inputs=[ds.as_named_input("train").as_download()],
    )
    run = exp.submit(est)
    assert _finished(run) == RunStatus.COMPLETED
    assert "READ 1,2 ['--lr', '0.1']" in _driver_log(run)
    assert [e["consumptionDetails"]["inputName"] for e in run.get_details()["inputDatasets"]] == [
        "train"
    ]

"""Datasets into and out of a run on a real one-machine Ray head: an Azurite blob input read
through a SAS, a workspaceblobstore table shipped in the job's data package, an output
uploaded and registered here; no key or grant in Ray's job info or the driver log."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter import (
    ComputeCluster,
    Dataset,
    Datastore,
    Experiment,
    OutputFileDatasetConfig,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from tests.conftest import wait_status, write
from tests.raycluster import one_node_head
from tests.storage_servers import AZURITE_ACCOUNT, AZURITE_KEY, Azurite, azurite  # noqa: F401

pytest.importorskip("ray.job_submission", reason="the cluster target's tests need ray[default]")


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    with one_node_head(num_cpus=2) as address:
        yield address


SCRIPT = """
    import argparse, os
    from azureml.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--images")
    p.add_argument("--out")
    a, rest = p.parse_known_args()
    run = Run.get_context()
    assert rest == [run.input_datasets["rows"].id], rest  # direct: the dataset's id
    df = run.input_datasets["rows"].to_pandas_dataframe()
    text = open(os.path.join(a.images, "sub", "b.csv")).read().strip().replace(chr(10), "|")
    print("images", sorted(os.listdir(a.images)), text)
    run.log("rows_total", float(df["n"].sum()))
    open(os.path.join(a.out, "summary.txt"), "w").write("rows=%d" % len(df))
"""


def test_an_input_and_an_output_on_ray(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    ray_address: str,
    azurite: Azurite,  # noqa: F811
) -> None:
    blob = Datastore.register_azure_blob_container(
        ws, "blobs", azurite.new_container(), AZURITE_ACCOUNT, account_key=AZURITE_KEY,
        endpoint=azurite.url,
    )  # fmt: skip
    src = ws.folder.parent / "blob-src"
    write(src, "a.csv", "n\n1\n")
    write(src, "sub/b.csv", "n\n2\n")
    blob.upload(str(src), "data", show_progress=False)
    images = Dataset.File.from_files((blob, "data/**")).register(ws, "images")
    default = ws.get_default_datastore()
    write(ws.folder.parent / "t", "rows.csv", "n\n10\n20\n")
    default.upload(str(ws.folder.parent / "t"), "t", show_progress=False)
    rows = Dataset.Tabular.from_delimited_files((default, "t/rows.csv"))
    ComputeCluster.attach(ws, "ray", ray_address)
    write(project, "train.py", SCRIPT)
    out = OutputFileDatasetConfig("summary", destination=(default, "out/{run-id}"))
    config = ScriptRunConfig(
        project,
        "train.py",
        arguments=[
            "--images",
            images.as_named_input("images").as_mount(),
            "--out",
            out.register_on_complete("summary"),
            rows.as_named_input("rows"),
        ],
        compute_target="ray",
    )
    run = exp.submit(config)
    status = wait_status(run, (RunStatus.COMPLETED, RunStatus.FAILED), timeout=240)
    log = run.read_log()
    assert status == RunStatus.COMPLETED, (run.get_details().get("error"), log)
    assert "images ['a.csv', 'sub'] n|2" in log
    assert run.get_metrics() == {"rows_total": 30.0}
    summary = Dataset.get_by_name(ws, "summary")
    got = summary.download(str(project / "got"), overwrite=True)
    assert [Path(p).read_text() for p in got] == ["rows=2"]
    assert Path(default.fs_path(f"out/{run.id}/summary.txt")).read_text() == "rows=2"
    details = run.get_details()
    assert {e["consumptionDetails"]["inputName"] for e in details["inputDatasets"]} == {
        "images",
        "rows",
    }
    assert [o["dataset"]["name"] for o in details["outputDatasets"]] == ["summary"]
    # Ray's dashboard shows a job's entrypoint, runtime_env and metadata in plain text: no
    # key and no grant there, nor in the driver log or this workspace.
    with urllib.request.urlopen(f"{ray_address}/api/jobs/{run.id}", timeout=10) as answer:
        job = answer.read().decode()
    info = json.loads(job)
    assert info["status"] == "SUCCEEDED"
    # The data package is named among py_modules (after aml_jupyter's), holding nothing else.
    assert len(info["runtime_env"]["py_modules"]) == 2
    for text in (job, log, json.dumps(ws.store.get_run(run.id).definition)):
        assert AZURITE_KEY not in text and "sig=" not in text
    for dirpath, _, names in os.walk(ws.folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                assert AZURITE_KEY.encode() not in path.read_bytes(), path

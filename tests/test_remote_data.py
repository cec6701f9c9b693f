"""Datasets into and out of runs on a compute instance: a real agent on 127.0.0.1, real
Azurite (blob) and moto_server (S3), inputs read through grants (SAS / presigned URLs, shipped
files), an output uploaded and registered on the submitting side, and no datastore key ever
on the agent's side."""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from aml_jupyter import (
    AmlError,
    Dataset,
    Datastore,
    Experiment,
    OutputFileDatasetConfig,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.data import node_data
from aml_jupyter.data.grants import parse
from aml_jupyter.data.remote_inputs import resolve_inputs
from aml_jupyter.data.signed_urls import Signer
from tests.conftest import wait_status, write
from tests.storage_servers import (  # noqa: F401  (fixtures)
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    S3Server,
    azurite,
    free_port,
    start,
    stop,
)
from tests.test_compute_instance import Agent, agent, box  # noqa: F401  (fixtures)

DONE = (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELED)


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    """A moto_server of its own, without IAM checks: in IAM mode moto reads only the
    Authorization header and fails a presigned URL's query signature with a 500, so the URL
    cannot be checked there (the URL's form is asserted instead: SigV4, its expiry)."""
    pytest.importorskip("moto.server", reason="moto[server] is missing: install the dev extra")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="moto-") as folder:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        proc = start(argv, port, Path(folder))
        try:
            yield S3Server(port, "AKIAREMOTEDATATEST01", "remote-data-secret-" + "k" * 21)
        finally:
            stop(proc)


SCRIPT = """
    import argparse, json, os
    from azureml.core import Run

    p = argparse.ArgumentParser()
    p.add_argument("--blob")
    p.add_argument("--s3")
    p.add_argument("--out")
    a = p.parse_args()
    run = Run.get_context()
    files = sorted(
        os.path.relpath(os.path.join(d, f), a.blob) for d, _, fs in os.walk(a.blob) for f in fs
    )
    df = run.input_datasets["rows"].to_pandas_dataframe()
    seen = {
        "blob_files": files,
        "blob_text": open(os.path.join(a.blob, "sub", "b.csv")).read(),
        "mount_mode": os.stat(os.path.join(a.blob, "a.csv")).st_mode & 0o777,
        "s3_text": open(os.path.join(a.s3, "x.txt")).read(),
        "rows_total": int(df["n"].sum()),
        "env": os.environ["AZUREML_DATASET_ENVIRONMENT_VARS"],
        "outputs": os.environ["AZUREML_DATASET_FILE_OUTPUTS"],
        "out_empty": os.listdir(a.out) == [],
        "workspace": os.environ["AML_WORKSPACE"],
    }
    os.makedirs("outputs", exist_ok=True)
    json.dump(seen, open("outputs/seen.json", "w"))
    os.makedirs(os.path.join(a.out, "deep"), exist_ok=True)
    open(os.path.join(a.out, "deep", "result.txt"), "w").write("total=%d" % seen["rows_total"])
    if os.environ.get("FAIL_AFTER_WRITING"):
        raise SystemExit("failing on purpose")
"""


def _blob_store(ws: Workspace, azurite: Azurite) -> Datastore:  # noqa: F811
    store = Datastore.register_azure_blob_container(
        ws,
        "blobs",
        azurite.new_container(),
        AZURITE_ACCOUNT,
        account_key=AZURITE_KEY,
        endpoint=azurite.url,
    )
    src = ws.folder.parent / "blob-src"
    write(src, "a.csv", "n\n1\n")
    write(src, "sub/b.csv", "n\n2\n")
    store.upload(str(src), "data", show_progress=False)
    return store


def _s3_store(ws: Workspace, s3: S3Server) -> Datastore:
    store = Datastore.register_s3(
        ws,
        "s3data",
        s3.new_bucket(),
        endpoint_url=s3.url,
        access_key_id=s3.access_key_id,
        secret_access_key=s3.secret_access_key,
        region="us-east-1",
    )
    src = ws.folder.parent / "s3-src"
    write(src, "x.txt", "from s3")
    store.upload(str(src), "s", show_progress=False)
    return store


def _inputs(ws: Workspace, azurite: Azurite, s3: S3Server) -> tuple[Datastore, list[object]]:  # noqa: F811
    blob = _blob_store(ws, azurite)
    images = Dataset.File.from_files((blob, "data/**")).register(ws, "blobfiles")
    s3files = Dataset.File.from_files((_s3_store(ws, s3), "s/**"))
    default = ws.get_default_datastore()
    src = ws.folder.parent / "wbs-src"
    write(src, "rows.csv", "n\n10\n20\n12\n")
    default.upload(str(src), "t", show_progress=False)
    rows = Dataset.Tabular.from_delimited_files((default, "t/rows.csv")).register(ws, "rows")
    return blob, [images, s3files, rows]


def _driver_log(run) -> str:  # type: ignore[no-untyped-def]
    return Path(
        run.download_file("user_logs/std_log.txt", str(Path(run._ws.folder) / "log.txt"))
    ).read_text()


def _all_bytes(folder: Path) -> list[tuple[Path, bytes]]:
    found = []
    for dirpath, _, names in os.walk(folder):
        for name in names:
            path = Path(dirpath) / name
            if path.is_file() and not path.is_symlink():
                found.append((path, path.read_bytes()))
    return found


def test_blob_s3_and_workspace_inputs_and_an_output_on_the_instance(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    box: object,  # noqa: F811
    agent: Agent,  # noqa: F811
    azurite: Azurite,  # noqa: F811
    s3: S3Server,
) -> None:
    blob, (images, s3files, rows) = _inputs(ws, azurite, s3)
    write(project, "train.py", SCRIPT)
    out = OutputFileDatasetConfig("prepared", destination=(blob, "prep/{run-id}"))
    config = ScriptRunConfig(
        project,
        "train.py",
        arguments=[
            "--blob",
            images.as_named_input("images").as_mount(),  # type: ignore[attr-defined]
            "--s3",
            s3files.as_named_input("s3in").as_download(),  # type: ignore[attr-defined]
            "--out",
            out.register_on_complete("prepared"),
        ],
        compute_target="box",
    )
    config._inputs = [rows.as_named_input("rows")]  # type: ignore[attr-defined]
    run = exp.submit(config)
    status = wait_status(run, DONE, timeout=120)
    assert status == RunStatus.COMPLETED, (run.get_details().get("error"), run.read_log())
    seen = json.loads(Path(run.download_file("outputs/seen.json", project / "s.json")).read_text())
    assert seen["blob_files"] == ["a.csv", "sub/b.csv"]
    assert seen["blob_text"] == "n\n2\n" and seen["s3_text"] == "from s3"
    assert seen["mount_mode"] == 0o444  # a mount is read-only, as v1's
    assert seen["rows_total"] == 42
    assert seen["env"] == "rows:direct,images:mount,s3in:download"
    assert seen["outputs"] == "prepared" and seen["out_empty"] is True
    assert seen["workspace"] == str(agent.workspace.folder)  # it ran on the agent
    # The output went to the blob store from here, and was registered.
    assert azurite.blob_names(blob.container_name) == [
        "data/a.csv",
        "data/sub/b.csv",
        f"prep/{run.id}/deep/result.txt",
    ]
    prepared = Dataset.get_by_name(ws, "prepared")
    assert prepared.version == 1
    target = prepared.download(str(project / "got"), overwrite=True)
    assert [Path(p).read_text() for p in target] == ["total=42"]
    # Lineage as for a local run.
    details = run.get_details()
    mechanisms = {
        e["consumptionDetails"]["inputName"]: e["consumptionDetails"]["mechanism"]
        for e in details["inputDatasets"]
    }
    assert mechanisms == {"images": "Mount", "s3in": "Download", "rows": "Direct"}
    [output] = details["outputDatasets"]
    assert output["dataset"]["name"] == "prepared" and output["dataset"]["version"] == 1
    assert run.output_datasets["prepared"].id == prepared.id
    assert "Output dataset 'prepared': 1 file(s) uploaded" in _driver_log(run)
    # No datastore key on either side in plain text; no grant in the run record or the agent's
    # folder after the run (the grants blob is removed once read).
    secrets = [AZURITE_KEY.encode(), s3.secret_access_key.encode()]
    for path, data in _all_bytes(ws.folder) + _all_bytes(agent.folder):
        assert not any(s in data for s in secrets), path
    for path, data in _all_bytes(agent.folder):
        assert b"X-Amz-Signature" not in data and b"&sig=" not in data, path
    recorded = json.dumps(ws.store.get_run(run.id).definition)
    assert "sig=" not in recorded and "X-Amz" not in recorded and "remoteData" in recorded


def test_a_failed_run_on_the_instance_uploads_nothing_and_says_so(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    box: object,  # noqa: F811
    agent: Agent,  # noqa: F811
    tmp_path: Path,
) -> None:
    default = ws.get_default_datastore()
    src = write(tmp_path / "local", "only.txt", "shipped").parent
    files = Dataset.File.from_files(str(src))  # a local path: shipped with the run
    write(
        project,
        "train.py",
        """
        import os, sys
        print("read", open(os.path.join(sys.argv[1], "only.txt")).read())
        open(os.path.join(sys.argv[2], "x.txt"), "w").write("x")
        raise SystemExit("failing on purpose")
        """,
    )
    out = OutputFileDatasetConfig("o", destination=(default, "never/{run-id}"))
    config = ScriptRunConfig(
        project,
        "train.py",
        arguments=[files.as_named_input("f").as_download(), out],
        compute_target="box",
    )
    run = exp.submit(config)
    assert wait_status(run, DONE, timeout=90) == RunStatus.FAILED
    log = _driver_log(run)
    assert "read shipped" in log
    assert "its output datasets (o) were not uploaded" in log
    assert not (Path(default.fs_path("never"))).exists()
    assert ws.store.run_datasets(run.id) and all(
        r.direction == "input" for r in ws.store.run_datasets(run.id)
    )


def test_a_file_changed_after_submit_fails_before_the_script_naming_it(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The node's side alone (a real node workspace, real SAS URLs to Azurite): the blob is
    changed between the submit's grants and the node's fetch."""
    blob = _blob_store(ws, azurite)
    ds = Dataset.File.from_files((blob, "data/**")).register(ws, "pinned")
    definition = {"inputDatasets": [ds.as_named_input("d").as_download()._aml_run_input(ws, 1)]}
    resolution = resolve_inputs(ws, definition)
    grants = parse(resolution.grants)
    assert resolution.shipped == [] and resolution.signed == 2
    assert all("sig=" in (f.url or "") for f in grants.inputs[0].files)
    changed = tmp_path / "changed"
    write(changed, "sub/b.csv", "n\n999\n")
    blob.upload(str(changed), "data", overwrite=True, show_progress=False)
    node = Workspace.create(tmp_path / "node")
    sha, _ = node.blobs.put_bytes(resolution.grants)
    definition["remoteData"] = {"grants": sha}
    with pytest.raises(AmlError) as caught:
        node_data.prepare(node, "run_1", definition)
    message = str(caught.value)
    assert "file 'sub/b.csv' is not the file the run was submitted with" in message
    assert "sig=" not in message and AZURITE_KEY not in message
    assert not (node.store.run_folder("run_1").dataset_input("d") / "sub" / "b.csv").exists()
    assert sha not in node.blobs  # the grants were read once, then removed


def test_a_sas_only_blob_store_is_shipped_not_its_token(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
) -> None:
    from azure.storage.blob import ContainerSasPermissions, generate_container_sas

    keyed = _blob_store(ws, azurite)
    token = generate_container_sas(
        AZURITE_ACCOUNT,
        keyed.container_name,
        account_key=AZURITE_KEY,
        permission=ContainerSasPermissions(read=True, list=True),
        expiry=__import__("datetime").datetime(2099, 1, 1),
    )
    sas_only = Datastore.register_azure_blob_container(
        ws,
        "sasonly",
        keyed.container_name,
        AZURITE_ACCOUNT,
        sas_token=token,
        endpoint=azurite.url,
        skip_validation=True,
    )
    assert not Signer(sas_only, 3600).can_sign
    ds = Dataset.File.from_files((sas_only, "data/**"))
    definition = {"inputDatasets": [ds.as_named_input("d")._aml_run_input(ws, 1)]}
    resolution = resolve_inputs(ws, definition)
    assert resolution.signed == 0 and len(resolution.shipped) == 2
    assert token.encode() not in resolution.grants


def test_shipping_past_the_cap_is_refused_at_submit(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    box: object,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    src = write(tmp_path / "big", "big.bin", "x" * 5000).parent
    files = Dataset.File.from_files(str(src))
    write(project, "train.py", "print(1)")
    monkeypatch.setenv("AML_SHIP_DATA_MAX_BYTES", "1000")
    config = ScriptRunConfig(
        project, "train.py", arguments=[files.as_named_input("f")], compute_target="box"
    )
    with pytest.raises(AmlError, match="more than 1000 bytes of its files would be shipped"):
        exp.submit(config)
    assert list(exp.get_runs()) == []


def test_s3_grants_are_sigv4_presigned_urls_that_expire(
    ws: Workspace, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AML_DATA_GRANT_SECONDS", "7200")
    ds = Dataset.File.from_files((_s3_store(ws, s3), "s/**"))
    definition = {"inputDatasets": [ds.as_named_input("d")._aml_run_input(ws, 1)]}
    resolution = resolve_inputs(ws, definition)
    [grant] = parse(resolution.grants).inputs[0].files
    url = urlsplit(grant.url or "")
    query = parse_qs(url.query)
    assert url.path.endswith("/s/x.txt")
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"] and query["X-Amz-Expires"] == ["7200"]
    assert s3.secret_access_key.encode() not in resolution.grants
    monkeypatch.setenv("AML_DATA_GRANT_SECONDS", str(8 * 86400))
    with pytest.raises(AmlError, match="S3 presigned URLs live at most 604800 s"):
        resolve_inputs(ws, definition)
    monkeypatch.setenv("AML_DATA_GRANT_SECONDS", "soon")
    with pytest.raises(AmlError, match="AML_DATA_GRANT_SECONDS is a number of seconds"):
        resolve_inputs(ws, definition)


@pytest.mark.parametrize(
    "url",
    [
        # The port is picked in the test: pytest-xdist's workers must collect the same ids.
        "http://127.0.0.1:{free}/c/a.csv?sv=1&sig=SECRETSIG",  # nothing listens
        "http://127.0.0.1:99999/c/a.csv?sv=1&sig=SECRETSIG",  # no such port: InvalidURL
    ],
    ids=["nothing-listens", "no-such-port"],
)
def test_a_fetch_that_fails_says_so_without_the_signature(url: str, tmp_path: Path) -> None:
    from aml_jupyter.data.grants import FileGrant

    url = url.replace("{free}", str(free_port()))

    grant = FileGrant("a.csv", 3, "0" * 64, url)
    with pytest.raises(AmlError) as caught:
        node_data.fetch_input("d", (grant,), tmp_path / "in", open, read_only=False)
    message = str(caught.value)
    assert "Input dataset 'd': cannot read 'a.csv' from http://127.0.0.1:" in message
    assert "SECRETSIG" not in message and "sig=" not in message
    assert not list((tmp_path / "in").iterdir())  # no part file left


def test_a_tampered_sas_is_refused_by_the_store_and_named_without_it(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
    tmp_path: Path,
) -> None:
    blob = _blob_store(ws, azurite)
    ds = Dataset.File.from_files((blob, "data/a.csv"))
    definition = {"inputDatasets": [ds.as_named_input("d")._aml_run_input(ws, 1)]}
    [grant] = parse(resolve_inputs(ws, definition).grants).inputs[0].files
    assert grant.url is not None
    forged = grant._replace(url=grant.url.replace("sp=r", "sp=rw"))  # a read grant made write
    with pytest.raises(AmlError, match="HTTP 403") as caught:
        node_data.fetch_input("d", (forged,), tmp_path / "in", open, read_only=False)
    assert "sig=" not in str(caught.value)
    node_data.fetch_input("d", (grant,), tmp_path / "in", open, read_only=False)
    assert (tmp_path / "in" / "a.csv").read_text() == "n\n1\n"


def test_adls_gen2_with_an_account_key_is_signed_and_a_principal_one_is_shipped(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
    tmp_path: Path,
) -> None:
    keyed = _blob_store(ws, azurite)  # the container holds data/a.csv, data/sub/b.csv
    gen2 = Datastore.register_azure_data_lake_gen2(
        ws, "lake", keyed.container_name, AZURITE_ACCOUNT, account_key=AZURITE_KEY,
        endpoint=azurite.url,
    )  # fmt: skip
    principal = Datastore.register_azure_data_lake_gen2(
        ws, "lakesp", keyed.container_name, AZURITE_ACCOUNT, tenant_id="t", client_id="c",
        client_secret="PRINCIPAL-SECRET", endpoint=azurite.url, skip_validation=True,
    )  # fmt: skip
    assert Signer(gen2, 60).can_sign and not Signer(principal, 60).can_sign
    ds = Dataset.File.from_files((gen2, "data/**"))
    definition = {"inputDatasets": [ds.as_named_input("d").as_download()._aml_run_input(ws, 1)]}
    resolution = resolve_inputs(ws, definition)
    assert resolution.signed == 2 and resolution.shipped == []
    files = parse(resolution.grants).inputs[0].files
    node_data.fetch_input("d", files, tmp_path / "in", open, read_only=True)
    assert (tmp_path / "in" / "sub" / "b.csv").read_text() == "n\n2\n"
    assert (tmp_path / "in" / "a.csv").stat().st_mode & 0o777 == 0o444


def test_expired_grants_fail_the_run_before_the_script(ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter.data.grants import Grants, dump

    node = Workspace.create(tmp_path / "node")
    sha, _ = node.blobs.put_bytes(dump(Grants(1.0, ())))
    with pytest.raises(AmlError, match="read-only data URLs expired before it started"):
        node_data.prepare(node, "run_1", {"remoteData": {"grants": sha}})
    with pytest.raises(AmlError, match="grants file did not arrive"):
        node_data.prepare(node, "run_2", {"remoteData": {"grants": "f" * 64}})
    with pytest.raises(AmlError, match="is not a SHA-256"):
        node_data.prepare(node, "run_3", {"remoteData": {"grants": "../../etc/passwd"}})
    with pytest.raises(AmlError, match="names no grants"):
        node_data.prepare(node, "run_4", {"remoteData": {"package": "../x"}})


def test_a_canceled_run_on_the_instance_uploads_nothing(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    box: object,  # noqa: F811
    tmp_path: Path,
) -> None:
    default = ws.get_default_datastore()
    src = write(tmp_path / "local", "sub/one.txt", "1").parent.parent
    files = Dataset.File.from_files(str(src)).register(ws, "few")
    write(
        project,
        "train.py",
        """
        import os, sys, time
        from azureml.core import Run
        run = Run.get_context()
        direct = run.input_datasets["few"]  # direct: the dataset, over the fetched files
        print("paths", direct.to_path(), direct.name, direct.version, flush=True)
        open(os.path.join(sys.argv[2], "partial.txt"), "w").write("x")
        print("started", flush=True)
        for i in range(600):
            time.sleep(0.1)
        """,
    )
    out = OutputFileDatasetConfig("o", destination=(default, "never/{run-id}"))
    config = ScriptRunConfig(project, "train.py", arguments=[files, out], compute_target="box")
    run = exp.submit(config)
    assert wait_status(run, (*DONE, RunStatus.RUNNING), timeout=90) == RunStatus.RUNNING
    deadline = time.monotonic() + 60
    while "started" not in run.read_log():
        assert time.monotonic() < deadline, run.read_log()
        time.sleep(0.2)
    assert "paths ['/sub/one.txt'] few 1" in run.read_log()
    run.cancel()
    assert wait_status(run, DONE, timeout=60) == RunStatus.CANCELED
    assert "its output datasets (o) were not uploaded" in _driver_log(run)
    assert not Path(default.fs_path("never")).exists()
    assert not [n for n in run.get_file_names() if n.startswith("datasets/")]

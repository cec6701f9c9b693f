"""The REST API's datasets and datastores, through a real Jupyter server (pytest-jupyter) over
a real workspace: the latest of each dataset, one name's versions, one version's files a page
at a time with its lineage, and datastores without their credentials."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_server_api import get, refused
from tornado.httpclient import HTTPClientError

from aml_jupyter import Dataset, Datastore, Workspace

SECRET_KEY = "c2VjcmV0LWtleS10aGF0LW11c3Qtbm90LWxlYWs="  # base64, as an account key is
SECRET_S3 = "s3-secret-that-must-not-leak-0123456789"


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


@pytest.fixture
def data(ws: Workspace, tmp_path: Path) -> Path:
    folder = tmp_path / "files"  # tmp_path/data is jupyter's data dir
    folder.mkdir()
    for i in range(5):
        (folder / f"part-{i}.csv").write_text(f"a,b\n{i},{i * 2}\n")
    return folder


async def test_datasets_versions_and_details(jp_fetch: Any, ws: Workspace, data: Path) -> None:
    assert await get(jp_fetch, "datasets") == {"datasets": []}
    first = Dataset.File.from_files(str(data)).register(ws, "parts", tags={"stage": "dev"})
    second = Dataset.File.from_files(str(data / "part-[01].csv")).register(
        ws, "parts", description="two parts", create_new_version=True
    )
    ws.store.add_run_datasets("run-a", "input", {"training": first.id})
    ws.store.add_run_datasets("run-b", "output", {"made": second.id})

    [row] = (await get(jp_fetch, "datasets"))["datasets"]
    assert (row["name"], row["version"], row["kind"], row["files"]) == ("parts", 2, "file", 2)
    assert row["runs"] == 1 and row["description"] == "two parts"
    assert row["size"] == sum(p.stat().st_size for p in sorted(data.iterdir())[:2])

    versions = await get(jp_fetch, "datasets", "parts")
    assert [v["version"] for v in versions["versions"]] == [2, 1]
    assert versions["versions"][1]["tags"] == {"stage": "dev"}

    page = await get(jp_fetch, "datasets", "parts", "1", limit="2")
    assert (page["id"], page["files"], page["kind"]) == (first.id, 5, "file")
    assert [f["path"] for f in page["file_names"]] == ["part-0.csv", "part-1.csv"]
    assert page["files_cut"] is True and page["versions"] == [2, 1]
    assert page["lineage"] == [{"run_id": "run-a", "direction": "input", "as": "training"}]
    assert page["definition"]["sources"] == [{"local": str(data)}]
    rest = await get(jp_fetch, "datasets", "parts", "1", offset="4", limit="2")
    assert [f["path"] for f in rest["file_names"]] == ["part-4.csv"]
    assert rest["files_cut"] is False and rest["files_offset"] == 4
    Dataset.Tabular.from_delimited_files(str(data / "*.csv")).register(ws, "table")
    rows = (await get(jp_fetch, "datasets"))["datasets"]
    assert [(r["name"], r["kind"], r["runs"]) for r in rows] == [
        ("parts", "file", 1),
        ("table", "tabular", 0),
    ]
    newest = await get(jp_fetch, "datasets", "parts", "2")
    assert newest["lineage"] == [{"run_id": "run-b", "direction": "output", "as": "made"}]


async def test_unknown_and_bad_names_are_refused(jp_fetch: Any, ws: Workspace, data: Path) -> None:
    Dataset.File.from_files(str(data)).register(ws, "parts")
    code, body = await refused(jp_fetch, "datasets", "nope")
    assert (code, body["reason"]) == (404, "no-dataset")
    code, body = await refused(jp_fetch, "datasets", "parts", "3")
    assert code == 404 and "its versions: 1" in body["message"]
    code, _ = await refused(jp_fetch, "datasets", "parts", "0")
    assert code == 404
    for bad in ("-x", ".hidden", "a%20b", "a%2Fb"):  # not a dataset name: no route
        with pytest.raises(HTTPClientError) as info:
            await jp_fetch("aml", "api", "datasets", bad)
        assert info.value.code == 404, bad
    code, body = await refused(jp_fetch, "datasets", "parts", "1", params={"limit": "5000"})
    assert code == 400 and "limit" in body["message"]
    code, body = await refused(jp_fetch, "datasets", "parts", "1", params={"offset": "-1"})
    assert code == 400


async def test_datastores_never_carry_credentials(
    jp_fetch: Any, ws: Workspace, tmp_path: Path
) -> None:
    Datastore.register_local(ws, "scratch", tmp_path)
    Datastore.register_azure_blob_container(
        ws, "blobs", "data", "myaccount", account_key=SECRET_KEY, skip_validation=True
    )
    Datastore.register_s3(
        ws,
        "bucket",
        "my-bucket",
        access_key_id="AKIAEXAMPLE",
        secret_access_key=SECRET_S3,
        endpoint_url="http://127.0.0.1:9",
        skip_validation=True,
    )
    # A SAS pasted into an endpoint URL is refused at registration; one a workspace kept from
    # before that is still never shown (the record written as an older version did).
    ws.store.add_datastore(
        "pasted",
        "AzureBlob",
        {
            "container_name": "data",
            "account_name": "myaccount",
            "account_url": "https://myaccount.blob.core.windows.net/?sv=2022&sig=PASTEDSIG",
            "endpoint": "https://myaccount.blob.core.windows.net/?sv=2022&sig=PASTEDSIG",
        },
    )
    response = await jp_fetch("aml", "api", "datastores")
    text = response.body.decode()
    assert SECRET_KEY not in text and SECRET_S3 not in text and "AKIAEXAMPLE" not in text
    assert "PASTEDSIG" not in text
    rows = {r["name"]: r for r in json.loads(text)["datastores"]}
    assert set(rows) == {"workspaceblobstore", "scratch", "blobs", "bucket", "pasted"}
    assert rows["pasted"]["where"] == "https://myaccount.blob.core.windows.net/data"
    assert rows["workspaceblobstore"]["default"] is True
    assert rows["scratch"]["kind"] == "Local" and rows["scratch"]["where"] == str(tmp_path)
    assert rows["blobs"]["kind"] == "AzureBlob" and rows["blobs"]["has_credentials"] is True
    assert rows["blobs"]["settings"]["account_name"] == "myaccount"
    assert rows["bucket"]["where"] == "s3://my-bucket at http://127.0.0.1:9"
    assert rows["scratch"]["has_credentials"] is False


async def test_any_name_answers_json_or_404_never_a_500(
    jp_fetch: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    ws: Workspace,
    data: Path,
) -> None:
    """Hypothesis asks the real server (over plain HTTP, off its event loop) for any name,
    version and page: a known one answers 200, anything else a 404 or a JSON 400."""
    Dataset.File.from_files(str(data)).register(ws, "parts")
    assert (await get(jp_fetch, "datasets", "parts"))["name"] == "parts"
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}aml/api/datasets"

    def ask(url: str) -> tuple[int, bytes]:
        request = urllib.request.Request(url, headers=jp_auth_header)
        try:
            with urllib.request.urlopen(request, timeout=30) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        name=st.one_of(st.text(min_size=1, max_size=40), st.just("parts")),
        version=st.one_of(st.text(max_size=12), st.integers(-5, 10**12).map(str)),
        offset=st.text(max_size=12),
    )
    def check(name: str, version: str, offset: str) -> None:
        for url in (
            f"{base}/{quote(name, safe='')}",
            f"{base}/{quote(name, safe='')}/{quote(version, safe='')}?offset={quote(offset)}",
        ):
            code, body = ask(url)
            assert code in (200, 400, 404), (url, code, body)
            if code == 200:
                assert name == "parts" and json.loads(body)["name"] == "parts"
            if code == 400:
                assert json.loads(body)["reason"] == "bad-request"

    await asyncio.get_running_loop().run_in_executor(None, check)


async def test_a_sas_in_a_url_source_is_not_served(jp_fetch: Any, ws: Workspace) -> None:
    from aml_jupyter.frontends.dataset_views import dataset_details

    # The details as the route builds them, over a definition holding a SAS URL (registering
    # one needs the URL to answer; the stored record is what the API reads).
    ws.store.add_dataset(
        "remote",
        "file",
        {"sources": [{"url": "https://acct.blob.core.windows.net/c/x.csv?sv=1&sig=URLSIG"}]},
        [("x.csv", 3, "0" * 64)],
        fingerprint="f" * 64,
    )
    answer = await jp_fetch("aml", "api", "datasets", "remote", "1")
    text = answer.body.decode()
    assert "URLSIG" not in text and "https://acct.blob.core.windows.net/c/x.csv" in text
    assert dataset_details(ws, "remote")["files"] == 1

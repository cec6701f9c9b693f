"""``aml datastore list|show|attach`` as real subprocesses: a local folder and an S3 bucket on a
real moto_server; credentials come from the environment and are never printed."""

from __future__ import annotations

import json
from pathlib import Path

from aml_jupyter import Workspace
from tests.storage_servers import S3Server, s3  # noqa: F401  (fixture)
from tests.test_cli import aml, aml_json


def test_attach_list_and_show_a_local_folder(ws: Workspace, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    done = aml(ws.folder, "datastore", "attach", "scratch", "--local", str(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "scratch"
    rows = aml_json(ws.folder, "datastore", "list")
    assert [(r["name"], r["kind"], r["default"]) for r in rows] == [
        ("workspaceblobstore", "Local", True),
        ("scratch", "Local", False),
    ]
    again = aml(ws.folder, "datastore", "attach", "scratch", "--local", str(tmp_path))
    assert again.returncode != 0 and "overwrite" in again.stderr
    bad = aml(ws.folder, "datastore", "attach", "bad-name", "--local", str(tmp_path))
    assert bad.returncode != 0 and "letters, digits and underscores" in bad.stderr


def test_attach_s3_with_keys_from_the_environment(ws: Workspace, s3: S3Server) -> None:  # noqa: F811
    bucket = s3.new_bucket()
    keys = {"AWS_ACCESS_KEY_ID": s3.access_key_id, "AWS_SECRET_ACCESS_KEY": s3.secret_access_key}
    args = ("datastore", "attach", "s3data", "--s3", bucket, "--endpoint-url", s3.url)
    done = aml(ws.folder, *args, "--region", "us-east-1", "--default", extra_env=keys)
    assert done.returncode == 0, done.stderr
    shown = aml(ws.folder, "datastore", "show", "s3data")
    assert shown.returncode == 0, shown.stderr
    assert s3.secret_access_key not in shown.stdout + done.stdout + done.stderr
    assert '"credentials": "encrypted, secret aml-datastore-s3data"' in shown.stdout
    assert Workspace(ws.folder).get_default_datastore().name == "s3data"
    wrong = {**keys, "AWS_SECRET_ACCESS_KEY": "not-the-key"}
    refused = aml(ws.folder, *args[:2], "other", *args[3:], extra_env=wrong)
    assert refused.returncode != 0 and "refused the keys" in refused.stderr
    assert "not-the-key" not in refused.stderr


def test_a_sas_pasted_into_the_endpoint_is_refused_and_never_printed(ws: Workspace) -> None:
    endpoint = "https://acct.blob.core.windows.net/?sv=2022&sig=PASTEDSIG"
    args = ("datastore", "attach", "pasted", "--blob", "data", "--account", "acct")
    done = aml(ws.folder, *args, "--endpoint", endpoint, "--skip-validation")
    assert done.returncode == 2 and "kept encrypted" in done.stderr
    assert "PASTEDSIG" not in done.stdout + done.stderr
    listed = aml(ws.folder, "datastore", "list", "--json")
    assert listed.returncode == 0
    assert [d["name"] for d in json.loads(listed.stdout)] == ["workspaceblobstore"]

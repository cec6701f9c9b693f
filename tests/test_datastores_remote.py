"""Datastores against real servers on 127.0.0.1: Azure Blob and ADLS Gen2 against Azurite,
S3 against moto_server (tests/storage_servers.py starts and stops them). Registration checks
the store and registers nothing when it fails; credentials are never in plain text in the
workspace, a repr or an error."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from aml_jupyter import AmlError, Datastore, Workspace
from aml_jupyter.data.datastore_kinds import (
    AzureBlobDatastore,
    AzureDataLakeGen2Datastore,
    S3Datastore,
)
from tests.storage_servers import (  # noqa: F401  (fixtures)
    AZURITE_ACCOUNT,
    AZURITE_KEY,
    Azurite,
    S3Server,
    azurite,
    free_port,
    s3,
)

WRONG_KEY = "A" * 86 + "=="


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.csv").write_text("a,b\n1,2\n")
    (folder / "sub" / "b.txt").write_text("bee")
    return folder


def blob(ws: Workspace, azurite: Azurite, name: str = "blobs", **kwargs: object) -> Datastore:  # noqa: F811
    container = kwargs.pop("container", None) or azurite.new_container()
    options = {"account_key": AZURITE_KEY, "endpoint": azurite.url, **kwargs}
    return Datastore.register_azure_blob_container(ws, name, container, AZURITE_ACCOUNT, **options)


# Azure Blob (Azurite) -----------------------------------------------------------------------
def test_blob_register_upload_download(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
    src: Path,
    tmp_path: Path,
) -> None:
    ds = blob(ws, azurite)
    assert isinstance(ds, AzureBlobDatastore) and Datastore(ws, "blobs") == ds
    assert ds.account_url == azurite.url and ds.protocol == "http"
    ds.upload(src, target_path="train", show_progress=False)
    ds.upload_files([src / "a.csv"], target_path="one", show_progress=False)
    assert azurite.blob_names(ds.container_name) == ["one/a.csv", "train/a.csv", "train/sub/b.txt"]
    assert ds.download(tmp_path / "out", prefix="train", show_progress=False) == 2
    assert (tmp_path / "out" / "train" / "sub" / "b.txt").read_text() == "bee"
    # v1's prefix is a blob-name prefix: 'train/a' is train/a.csv only; 'o' is one/.
    assert ds.download(tmp_path / "p", prefix="train/a", show_progress=False) == 1
    assert ds.download(tmp_path / "p", prefix="o", show_progress=False) == 1
    assert sorted(p.name for p in (tmp_path / "p").rglob("*.csv")) == ["a.csv", "a.csv"]
    # overwrite=False keeps what the container holds.
    (src / "a.csv").write_text("new")
    ds.upload(src, target_path="train", show_progress=False)
    assert ds.filesystem().cat(ds.fs_path("train/a.csv")) == b"a,b\n1,2\n"
    ds.upload(src, target_path="train", overwrite=True, show_progress=False)
    assert ds.filesystem().cat(ds.fs_path("train/a.csv")) == b"new"
    assert ws.datastores["blobs"] == ds


def test_blob_with_a_sas_token_and_create_if_not_exists(ws: Workspace, azurite: Azurite) -> None:  # noqa: F811
    from azure.storage.blob import AccountSasPermissions, ResourceTypes, generate_account_sas

    sas = generate_account_sas(
        AZURITE_ACCOUNT,
        AZURITE_KEY,
        resource_types=ResourceTypes(service=True, container=True, object=True),
        permission=AccountSasPermissions(read=True, write=True, list=True, create=True),
        expiry=datetime.now(timezone.utc) + timedelta(hours=1),
    )
    ds = Datastore.register_azure_blob_container(
        ws,
        "by_sas",
        "made-by-registration",
        AZURITE_ACCOUNT,
        sas_token=sas,
        endpoint=azurite.url,
        create_if_not_exists=True,
    )
    ds.filesystem().pipe(ds.fs_path("x.txt"), b"x")
    assert azurite.blob_names("made-by-registration") == ["x.txt"]
    assert ds.sas_token == sas and ds.account_key is None
    assert sas not in repr(ds) and sas.encode() not in b"".join(
        p.read_bytes() for p in ws.folder.rglob("*") if p.is_file()
    )


def test_blob_wrong_key_missing_container_unreachable_register_nothing(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
) -> None:
    container = azurite.new_container()
    with pytest.raises(AmlError, match=r"refused the credentials.*Nothing was registered") as err:
        blob(ws, azurite, "wrong", container=container, account_key=WRONG_KEY)
    assert WRONG_KEY not in str(err.value)
    with pytest.raises(AmlError, match="There is no container 'nope-nope'"):
        blob(ws, azurite, "missing", container="nope-nope")
    dead = f"http://127.0.0.1:{free_port()}/{AZURITE_ACCOUNT}"
    with pytest.raises(AmlError, match=f"Cannot reach {dead}"):
        blob(ws, azurite, "dead", container=container, endpoint=dead)
    assert list(ws.datastores) == ["workspaceblobstore"] and ws.store.secret_names() == []
    # skip_validation registers without asking the store (it fails at first use instead).
    ds = blob(
        ws, azurite, "later", container=container, account_key=WRONG_KEY, skip_validation=True
    )
    with pytest.raises(AmlError, match="Uploading to") as err:
        ds.upload_files([__file__], show_progress=False)
    assert WRONG_KEY not in str(err.value) and azurite.blob_names(container) == []


def test_credentials_are_in_no_file_of_the_workspace(ws: Workspace, azurite: Azurite) -> None:  # noqa: F811
    ds = blob(ws, azurite)
    assert ws.store.secret_names() == ["aml-datastore-blobs"]
    assert files_holding(ws.folder, AZURITE_KEY.encode()) == []
    assert AZURITE_KEY not in repr(ds) and AZURITE_KEY not in repr(ws.store.get_datastore("blobs"))
    assert ds.account_key == AZURITE_KEY  # decrypted only when asked for
    ds.unregister()
    assert ws.store.secret_names() == [] and list(ws.datastores) == ["workspaceblobstore"]


def test_overwrite_replaces_a_registration_and_its_secret(ws: Workspace, azurite: Azurite) -> None:  # noqa: F811
    first = blob(ws, azurite)
    second = blob(ws, azurite, overwrite=True)
    assert second.container_name != first.container_name
    assert Datastore(ws, "blobs").container_name == second.container_name
    assert ws.store.secret_names() == ["aml-datastore-blobs"]


def test_set_a_blob_store_as_default(ws: Workspace, azurite: Azurite) -> None:  # noqa: F811
    ds = blob(ws, azurite)
    ds.set_as_default()
    assert ws.get_default_datastore() == ds
    ds.unregister()
    assert ws.get_default_datastore().name == "workspaceblobstore"


def test_data_lake_gen2_through_its_blob_endpoint(
    ws: Workspace,
    azurite: Azurite,  # noqa: F811
    src: Path,
) -> None:
    fs_name = azurite.new_container()
    ds = Datastore.register_azure_data_lake_gen2(
        ws, "lake", fs_name, AZURITE_ACCOUNT, account_key=AZURITE_KEY, endpoint=azurite.url
    )
    assert isinstance(ds, AzureDataLakeGen2Datastore) and ds.filesystem_name == fs_name
    ds.upload(src, "raw", show_progress=False)
    assert azurite.blob_names(fs_name) == ["raw/a.csv", "raw/sub/b.txt"]
    with pytest.raises(AmlError, match="refused the credentials"):
        Datastore.register_azure_data_lake_gen2(
            ws, "lake2", fs_name, AZURITE_ACCOUNT, account_key=WRONG_KEY, endpoint=azurite.url
        )


# S3 (moto_server) -----------------------------------------------------------------------
def s3_store(ws: Workspace, s3: S3Server, name: str = "s3data", **kwargs: object) -> Datastore:  # noqa: F811
    bucket = kwargs.pop("bucket", None) or s3.new_bucket()
    options = {
        "endpoint_url": s3.url,
        "access_key_id": s3.access_key_id,
        "secret_access_key": s3.secret_access_key,
        "region": "us-east-1",
        **kwargs,
    }
    return Datastore.register_s3(ws, name, bucket, **options)


def test_s3_register_upload_download(
    ws: Workspace,
    s3: S3Server,  # noqa: F811
    src: Path,
    tmp_path: Path,
) -> None:
    ds = s3_store(ws, s3, prefix="team/a")
    assert isinstance(ds, S3Datastore) and Datastore(ws, "s3data") == ds
    ds.upload(src, "train", show_progress=False)
    assert s3.keys(ds.bucket) == ["team/a/train/a.csv", "team/a/train/sub/b.txt"]
    assert ds.download(tmp_path / "out", show_progress=False) == 2
    assert (tmp_path / "out" / "train" / "a.csv").read_text() == "a,b\n1,2\n"
    assert ds.download(tmp_path / "p", prefix="train/s", show_progress=False) == 1
    assert (tmp_path / "p" / "train" / "sub" / "b.txt").read_text() == "bee"
    (src / "a.csv").write_text("new")
    ds.upload(src, "train", show_progress=False)
    assert ds.filesystem().cat(ds.fs_path("train/a.csv")) == b"a,b\n1,2\n"
    assert s3.secret_access_key not in repr(ds)
    assert files_holding(ws.folder, s3.secret_access_key.encode()) == []


def test_s3_wrong_key_registers_nothing_and_is_never_shown(
    ws: Workspace,
    s3: S3Server,  # noqa: F811
) -> None:
    bucket = s3.new_bucket()
    with pytest.raises(
        AmlError, match=r"refused the keys for bucket .*Nothing was registered"
    ) as err:
        s3_store(ws, s3, bucket=bucket, secret_access_key="wrong-secret-key")
    assert "wrong-secret-key" not in str(err.value)
    assert list(ws.datastores) == ["workspaceblobstore"] and ws.store.secret_names() == []


def test_s3_missing_bucket_and_unreachable_register_nothing(
    ws: Workspace,
    s3: S3Server,  # noqa: F811
) -> None:
    with pytest.raises(AmlError, match="There is no bucket 'no-such-bucket'"):
        s3_store(ws, s3, bucket="no-such-bucket")
    dead = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(AmlError, match="Cannot reach bucket") as err:
        s3_store(ws, s3, bucket="any-bucket", endpoint_url=dead)
    assert s3.secret_access_key not in str(err.value)
    assert list(ws.datastores) == ["workspaceblobstore"] and ws.store.secret_names() == []
    made = s3_store(ws, s3, bucket="made-on-register", create_if_not_exists=True)
    assert made.bucket in [b["Name"] for b in s3.client().list_buckets()["Buckets"]]  # type: ignore[attr-defined]
    with pytest.raises(AmlError, match="Give both access_key_id and secret_access_key"):
        Datastore.register_s3(ws, "half", "abc", access_key_id="x")

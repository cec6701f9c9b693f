"""Datastores with no server: workspaceblobstore, local-folder datastores, v1's look-ups,
set_as_default/unregister, uploads that never leave a file half-written, and the rules for
names and paths (hypothesis)."""

from __future__ import annotations

import importlib
import os
import string
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError, Datastore, V1NameNotSupported, Workspace
from aml_jupyter.data import datastore_transfer
from aml_jupyter.data.data_reference import DataReference
from aml_jupyter.data.datastore import LocalDatastore, relative_path
from aml_jupyter.data.datastore_names import (
    check_bucket_name,
    check_container_name,
    check_datastore_name,
    credentials_secret,
)


def tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def src(tmp_path: Path) -> Path:
    folder = tmp_path / "src"
    (folder / "sub" / "deep").mkdir(parents=True)
    (folder / "a.csv").write_text("a,b\n1,2\n")
    (folder / "sub" / "b.txt").write_text("bee")
    (folder / "sub" / "deep" / "c.txt").write_text("sea")
    return folder


def test_the_default_datastore_is_a_workspace_folder(ws: Workspace) -> None:
    default = ws.get_default_datastore()
    assert isinstance(default, LocalDatastore) and default.name == "workspaceblobstore"
    assert default.folder == ws.folder / "datastores" / "workspaceblobstore"
    assert Datastore.get_default(ws) == default == Datastore(ws) == Datastore(ws, default.name)
    assert Datastore(workspace=ws, name="workspaceblobstore") == default  # v1's keywords
    assert Datastore.get(workspace=ws, datastore_name="workspaceblobstore") == default
    assert list(ws.datastores) == ["workspaceblobstore"]


def test_local_datastore_upload_download_and_v1_counts(
    ws: Workspace, src: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = Datastore.register_local(ws, "my_local", tmp_path / "store", create_if_not_exists=True)
    assert Datastore.get(ws, "my_local") == ds and isinstance(ds, LocalDatastore)
    ref = ds.upload(str(src), target_path="train", show_progress=True)
    assert isinstance(ref, DataReference) and ref.path_on_datastore == "train"
    assert "Uploaded 3 files" in capsys.readouterr().out
    assert tree(tmp_path / "store" / "train") == tree(src)
    assert ds.download(tmp_path / "out", prefix="train/sub", show_progress=False) == 2
    assert tree(tmp_path / "out") == {"train/sub/b.txt": "bee", "train/sub/deep/c.txt": "sea"}
    # v1's prefix is a name prefix: 'train/a' matches train/a.csv.
    assert ds.download(tmp_path / "out2", prefix="train/a", show_progress=False) == 1
    # Local files there already are kept unless overwrite.
    (tmp_path / "out" / "train" / "sub" / "b.txt").write_text("mine")
    assert ds.download(tmp_path / "out", prefix="train", show_progress=False) == 1
    assert (tmp_path / "out" / "train" / "sub" / "b.txt").read_text() == "mine"
    assert ds.download(tmp_path / "out", prefix="train", overwrite=True, show_progress=False) == 3
    assert (tmp_path / "out" / "train" / "sub" / "b.txt").read_text() == "bee"


def test_upload_without_overwrite_keeps_what_is_there(
    ws: Workspace, src: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ds = ws.get_default_datastore()
    ds.upload(src, "d", show_progress=False)
    target = Path(ds.fs_path("d/a.csv"))
    (src / "a.csv").write_text("changed")
    ds.upload(src, "d", overwrite=False)
    assert "(3 already there kept; overwrite=True replaces them)" in capsys.readouterr().out
    assert target.read_text() == "a,b\n1,2\n"
    ds.upload(src, "d", overwrite=True, show_progress=False)
    assert target.read_text() == "changed"


def test_upload_files_keeps_paths_relative_to_the_root(ws: Workspace, src: Path) -> None:
    ds = ws.get_default_datastore()
    files = [src / "sub" / "b.txt", src / "sub" / "deep" / "c.txt"]
    ds.upload_files([str(f) for f in files], target_path="f", show_progress=False)
    assert tree(Path(ds.fs_path("f"))) == {"b.txt": "bee", "deep/c.txt": "sea"}
    ds.upload_files(files, relative_root=src, target_path="g", show_progress=False)
    assert tree(Path(ds.fs_path("g"))) == {"sub/b.txt": "bee", "sub/deep/c.txt": "sea"}
    with pytest.raises(AmlError, match="not under relative_root"):
        ds.upload_files(files, relative_root=src / "sub" / "deep", show_progress=False)
    with pytest.raises(AmlError, match="Not files"):
        ds.upload_files([src / "missing.txt"], show_progress=False)


def test_a_failed_local_upload_leaves_no_partial_file(
    ws: Workspace, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ds = ws.get_default_datastore()
    real_replace = os.replace
    calls = []

    def replace_then_fail(a: str, b: str) -> None:  # the disk fills up after the first file
        calls.append(b)
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real_replace(a, b)

    monkeypatch.setattr(datastore_transfer.os, "replace", replace_then_fail)
    with pytest.raises(AmlError, match=r"No space left on device.*Every file that landed is"):
        ds.upload(src, "x", show_progress=False)
    monkeypatch.undo()
    landed = [p for p in Path(ds.fs_path("x")).rglob("*") if p.is_file()]
    assert len(landed) == 1 and landed[0].read_text() in ("a,b\n1,2\n", "bee", "sea")
    ds.upload(src, "x", show_progress=False)  # the rest, the first one kept
    assert tree(Path(ds.fs_path("x"))) == tree(src)


def test_a_killed_writer_s_temporary_file_is_never_listed(ws: Workspace, tmp_path: Path) -> None:
    ds = ws.get_default_datastore()
    folder = Path(ds.fs_path("d"))
    folder.mkdir()
    (folder / "whole.txt").write_text("ok")
    (folder / ".big.csv.aml-partial-0123abcd").write_text("half of it")  # a SIGKILLed upload
    assert ds.download(tmp_path / "out", prefix="d", show_progress=False) == 1
    assert tree(tmp_path / "out") == {"d/whole.txt": "ok"}


def test_unknown_names_say_which_exist(ws: Workspace, tmp_path: Path) -> None:
    Datastore.register_local(ws, "here", tmp_path)
    with pytest.raises(
        AmlError, match="No datastore named 'nope'; known: workspaceblobstore, here"
    ):
        Datastore(ws, "nope")


def test_register_local_refuses_bad_input_and_registers_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    with pytest.raises(AmlError, match="is not a folder"):
        Datastore.register_local(ws, "missing", tmp_path / "nope")
    with pytest.raises(AmlError, match="letters, digits and underscores"):
        Datastore.register_local(ws, "bad-name", tmp_path)
    with pytest.raises(AmlError, match="workspace's own datastore"):
        Datastore.register_local(ws, "workspaceblobstore", tmp_path)
    Datastore.register_local(ws, "one", tmp_path)
    with pytest.raises(AmlError, match="registered already; register with overwrite=True"):
        Datastore.register_local(ws, "one", tmp_path / "other")
    assert sorted(ws.datastores) == ["one", "workspaceblobstore"]
    assert ws.store.secret_names() == []  # a local folder has no credentials


def test_an_endpoint_holding_a_credential_is_refused_and_not_repeated(ws: Workspace) -> None:
    secret = "sig=TOPSECRET0123"
    for register in (
        lambda: Datastore.register_azure_blob_container(
            ws, "blob", "data", "devstoreaccount1", sas_token="sv=x",
            endpoint=f"http://127.0.0.1:9/devstoreaccount1?sv=2024&{secret}", skip_validation=True,
        ),
        lambda: Datastore.register_s3(
            ws, "s3", "bucket", endpoint_url=f"http://user:{secret}@127.0.0.1:9",
            skip_validation=True,
        ),
    ):  # fmt: skip
        with pytest.raises(AmlError, match="kept encrypted") as info:
            register()
        assert secret not in str(info.value)
    assert sorted(ws.datastores) == ["workspaceblobstore"] and ws.store.secret_names() == []


def test_set_as_default_and_unregister(ws: Workspace, tmp_path: Path) -> None:
    ds = Datastore.register_local(ws, "mine", tmp_path)
    ds.set_as_default()
    assert ws.get_default_datastore() == ds == Datastore(ws)
    assert Workspace(ws.folder).get_default_datastore().name == "mine"  # kept in the store
    ws.datastores["workspaceblobstore"].set_as_default()
    assert ws.get_default_datastore().name == "workspaceblobstore"
    ds.set_as_default()
    ds.unregister()
    assert ws.get_default_datastore().name == "workspaceblobstore"
    assert list(ws.datastores) == ["workspaceblobstore"]
    with pytest.raises(AmlError, match="No datastore named 'mine' is registered"):
        ds.unregister()
    with pytest.raises(AmlError, match="stays"):
        ws.get_default_datastore().unregister()


def test_path_is_a_data_reference(ws: Workspace) -> None:
    ds = ws.get_default_datastore()
    ref = ds.path("data/train")
    assert ref.datastore == ds and ref.path_on_datastore == "data/train"
    assert ref.to_tuple() == (ds, "data/train") and ref.mode == "mount"
    assert (
        ref.as_download().mode == "download" and ref.path("x").path_on_datastore == "data/train/x"
    )
    assert ref.fs_path() == ds.fs_path("data/train")
    assert ds.as_mount() == ds.path().as_mount() and ds.as_download("/tmp/x").mode == "download"
    with pytest.raises(AmlError, match=r"may not contain '\.\.'"):
        ds.path("../up")


def test_file_share_says_what_to_use(ws: Workspace) -> None:
    with pytest.raises(V1NameNotSupported, match="register_local"):
        Datastore.register_azure_file_share(ws, "share", "s", "acct", account_key="k")


def test_v1_import_paths(tmp_path: Path) -> None:
    importlib.import_module("aml_jupyter.azureml")  # the opt-in a v1 notebook's kernel does
    from azureml.core import Datastore as core_name
    from azureml.core.datastore import Datastore as module_name
    from azureml.data.azure_storage_datastore import AzureBlobDatastore
    from azureml.data.datapath import DataPath

    from aml_jupyter.data.datastore_kinds import AzureBlobDatastore as ours

    assert core_name is module_name is Datastore and AzureBlobDatastore is ours
    assert issubclass(AzureBlobDatastore, Datastore) and DataPath


# names and paths from outside ---------------------------------------------------------------
NAME_CHARS = string.ascii_letters + string.digits + "_"


@given(st.text(NAME_CHARS, min_size=1, max_size=100))
def test_v1_datastore_names_are_taken(name: str) -> None:
    if name.lower() in ("workspaceblobstore", "workspacefilestore", "workspaceartifactstore"):
        return
    assert check_datastore_name(name) == name
    secret = credentials_secret(name)
    assert len(secret) <= 127 and set(secret) <= set(string.ascii_letters + string.digits + "-")


@given(st.text(max_size=120))
def test_any_other_datastore_name_is_refused_clearly(name: str) -> None:
    ok = 1 <= len(name) <= 100 and set(name) <= set(NAME_CHARS)
    if ok:
        return
    with pytest.raises(AmlError, match="letters, digits and underscores"):
        check_datastore_name(name)


@given(st.text(NAME_CHARS, min_size=1, max_size=100), st.text(NAME_CHARS, min_size=1, max_size=100))
def test_two_datastores_never_share_a_secret(a: str, b: str) -> None:
    if a != b:
        assert credentials_secret(a) != credentials_secret(b)


@given(st.text(max_size=80))
def test_container_and_bucket_names_are_checked(name: str) -> None:
    for check in (check_container_name, check_bucket_name):
        try:
            assert check(name) == name
        except AmlError as exc:
            assert "not allowed" in str(exc)
            continue
        assert 3 <= len(name) <= 63 and name == name.lower() and name[0].isalnum()


@settings(max_examples=300)
@given(st.lists(st.sampled_from(["a", "b.txt", "..", ".", "", "x y", "\\", "/", "é"]), max_size=8))
def test_relative_paths_never_leave_the_datastore(parts: list[str]) -> None:
    text = "/".join(parts)
    try:
        clean = relative_path(text)
    except AmlError:
        return
    assert not clean.startswith("/") and ".." not in clean.split("/")
    assert relative_path(clean) == clean  # clean is a fixed point


@given(st.text(max_size=40))
def test_relative_path_takes_any_text_or_says_why(text: str) -> None:
    try:
        clean = relative_path(text)
    except AmlError:
        return
    assert ".." not in clean.split("/") and not clean.startswith("/") and "\x00" not in clean


def test_a_missing_fsspec_backend_says_which_extra(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "s3fs", None)  # as if not installed
    with pytest.raises(AmlError, match=r"pip install 'aml-jupyter\[s3\]'"):
        Datastore.register_s3(ws, "s3data", "bucket", endpoint_url="http://127.0.0.1:9")
    assert list(ws.datastores) == ["workspaceblobstore"]
    monkeypatch.setitem(sys.modules, "adlfs", None)
    with pytest.raises(AmlError, match=r"pip install 'aml-jupyter\[azure\]'"):
        Datastore.register_azure_blob_container(ws, "b", "cont", "acct", account_key="k")

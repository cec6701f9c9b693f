"""What every store backend must do with datastores (the conformance suite's backends): a
registration is its record and its encrypted credentials together or neither; replacing and
deleting take the secret along; the default is kept and forgotten with its datastore."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter.errors import AmlError
from aml_jupyter.store import DatastoreRecord, WorkspaceStore
from tests.test_store_conformance import BACKENDS


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkspaceStore]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


def test_a_datastore_and_its_credentials_are_kept_apart(store: WorkspaceStore) -> None:
    record = store.add_datastore(
        "raw", "S3", {"bucket": "b"}, {"secret_access_key": "k1"}, "aml-datastore-raw"
    )
    assert isinstance(record, DatastoreRecord) and record.config == {"bucket": "b"}
    assert "k1" not in repr(record) and store.get_datastore("raw") == record
    assert store.datastore_credentials("raw") == {"secret_access_key": "k1"}
    assert store.secret_names() == ["aml-datastore-raw"]
    assert [r.name for r in store.list_datastores()] == ["raw"]


def test_a_name_in_use_is_refused_unless_overwrite(store: WorkspaceStore) -> None:
    store.add_datastore("raw", "S3", {"bucket": "b"}, {"key": "k1"}, "aml-datastore-raw")
    with pytest.raises(AmlError, match="registered already"):
        store.add_datastore("raw", "Local", {"folder": "/x"})
    assert store.datastore_credentials("raw") == {"key": "k1"}  # untouched
    store.add_datastore("raw", "Local", {"folder": "/x"}, overwrite=True)
    got = store.get_datastore("raw")
    assert got is not None and got.kind == "Local" and got.credentials_secret is None
    assert store.secret_names() == [] and store.datastore_credentials("raw") == {}


def test_a_failed_write_keeps_neither_record_nor_secret(store: WorkspaceStore) -> None:
    with pytest.raises(AmlError, match="not allowed"):  # a secret name the vault refuses
        store.add_datastore("raw", "S3", {}, {"key": "k"}, "bad_name!")
    assert store.get_datastore("raw") is None and store.secret_names() == []


def test_deleting_takes_the_secret_and_the_default_along(store: WorkspaceStore) -> None:
    store.add_datastore("raw", "S3", {}, {"key": "k"}, "aml-datastore-raw")
    store.add_datastore("other", "Local", {"folder": "/x"})
    assert store.default_datastore_name() is None
    store.set_default_datastore("raw")
    assert store.default_datastore_name() == "raw"
    store.delete_datastore("other")  # not the default: it stays
    assert store.default_datastore_name() == "raw"
    store.delete_datastore("raw")
    assert store.default_datastore_name() is None and store.secret_names() == []
    store.delete_datastore("raw")  # unknown: fine
    store.set_default_datastore("x")
    store.set_default_datastore(None)
    assert store.default_datastore_name() is None

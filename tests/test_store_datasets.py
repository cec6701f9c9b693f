"""The store's dataset records, through the interface only, on every backend (those of
``tests/test_store_conformance.py``): versions, all-or-nothing registration, tags, lineage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter.errors import AmlError
from aml_jupyter.store import WorkspaceStore
from aml_jupyter.store.types import DatasetFileRecord, RunDatasetRecord
from tests.test_store_conformance import BACKENDS

FILES = [("a.csv", 3, "1" * 64), ("b/c.csv", 5, "2" * 64)]


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkspaceStore]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


def add(store: WorkspaceStore, name: str = "d", fp: str = "f1", **kwargs: object) -> tuple:
    return store.add_dataset(name, "tabular", {"sources": [1]}, FILES, fingerprint=fp, **kwargs)  # type: ignore[arg-type]


def test_versions_are_numbered_and_pinned(store: WorkspaceStore) -> None:
    first, new = add(store, tags={"k": 1}, description="x")
    assert new and (first.version, first.file_count, first.size, first.tags) == (
        1,
        2,
        8,
        {"k": "1"},
    )
    same, new = add(store, create_new_version=True)
    assert not new and same.id == first.id  # same definition, same bytes: the same version
    with pytest.raises(AmlError, match="create_new_version=True"):
        add(store, fp="f2")
    second, new = add(store, fp="f2", create_new_version=True)
    assert new and second.version == 2
    assert store.dataset_versions("d") == [1, 2]
    assert store.get_dataset("d").id == second.id  # type: ignore[union-attr]
    assert store.get_dataset("d", 1).id == first.id  # type: ignore[union-attr]
    assert store.get_dataset("d", 3) is None and store.get_dataset("other") is None
    assert store.get_dataset_by_id(first.id).description == "x"  # type: ignore[union-attr]
    assert store.dataset_files(first.id) == [DatasetFileRecord(*f) for f in FILES]
    assert [r.version for r in store.list_datasets()] == [2]


def test_another_kind_is_refused_and_nothing_is_written(store: WorkspaceStore) -> None:
    add(store)
    with pytest.raises(AmlError, match="registered for a tabular dataset"):
        store.add_dataset("d", "file", {}, FILES, fingerprint="f3", create_new_version=True)
    assert store.dataset_versions("d") == [1]


def test_tags_description_delete_and_lineage(store: WorkspaceStore) -> None:
    record, _ = add(store)
    store.set_dataset_tags(record.id, {"a": "1", "b": None})
    store.remove_dataset_tags(record.id, ["a", "missing"])
    store.set_dataset_description(record.id, "now")
    got = store.get_dataset_by_id(record.id)
    assert got is not None and got.tags == {"b": None} and got.description == "now"
    store.add_run_datasets("run", "input", {"train": record.id})
    store.add_run_datasets("run", "input", {"train": record.id})  # replaced, not doubled
    store.add_run_datasets("run", "output", {"out": record.id})
    assert store.run_datasets("run") == [
        RunDatasetRecord("run", "input", "train", record.id),
        RunDatasetRecord("run", "output", "out", record.id),
    ]
    assert len(store.dataset_lineage(record.id)) == 2
    assert store.delete_dataset("d") == 1 and store.get_dataset_by_id(record.id) is None
    assert store.dataset_files(record.id) == []
    assert len(store.run_datasets("run")) == 2  # lineage outlives the registration


def test_saved_datasets_have_ids_but_are_never_listed(store: WorkspaceStore) -> None:
    # A run's unregistered input is saved under a name no user can give (see SAVED_PREFIX).
    saved, _ = add(store, "_saved-abc")
    listed, _ = add(store, "shown")
    assert [r.name for r in store.list_datasets()] == ["shown"]
    assert store.get_dataset_by_id(saved.id) is not None and listed.id != saved.id


def test_runs_are_counted_for_many_versions_at_once(store: WorkspaceStore) -> None:
    read_and_written, _ = add(store, "a", tags={"team": "x"})
    shared, _ = add(store, "b", tags={"team": "y", "stage": None})
    unused, _ = add(store, "c")
    store.add_run_datasets("r1", "input", {"train": read_and_written.id, "shared": shared.id})
    store.add_run_datasets("r1", "output", {"model_data": read_and_written.id})  # r1 again
    store.add_run_datasets("r2", "input", {"one": shared.id, "two": shared.id})  # two names
    store.add_run_datasets("r3", "output", {"out": shared.id})
    ids = [read_and_written.id, shared.id, unused.id, "no-such-id"]
    counts = store.dataset_run_counts(iter(ids))  # any iterable, read once
    assert counts == {read_and_written.id: 1, shared.id: 3, unused.id: 0, "no-such-id": 0}
    for dataset_id in ids:  # a run, not a record of it: what the lineage names, once each
        assert counts[dataset_id] == len({r.run_id for r in store.dataset_lineage(dataset_id)})
    assert store.dataset_run_counts([]) == {}
    # The listing reads every version's tags with it (in one query too): each its own.
    assert {r.name: r.tags for r in store.list_datasets()} == {
        "a": {"team": "x"},
        "b": {"stage": None, "team": "y"},
        "c": {},
    }

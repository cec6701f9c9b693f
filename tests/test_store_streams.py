"""The store's run streams, through the interface only (part of the conformance suite: the
``store`` fixture runs these against every backend): logs by offset, metrics by cursor, live
files by name. Only the writing side uses ``run_folder``, as a run's target does."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import test_store_conformance as conformance
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter.errors import AmlError
from aml_jupyter.status import RunStatus
from aml_jupyter.store import WorkspaceStore
from aml_jupyter.store.run_folder import DRIVER_LOG, RunFolder, process_log_name

store = conformance.store  # the fixture: every backend
new_run = conformance.new_run


def write(path: os.PathLike[str], data: bytes) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "ab") as f:
        f.write(data)


def test_a_log_is_read_by_offset_as_it_grows(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    assert store.read_log(run_id) == b"" and store.log_size(run_id) is None
    folder = store.run_folder(run_id)
    assert isinstance(folder, RunFolder)
    write(folder.driver_log, b"one\ntwo\n")
    assert store.log_size(run_id) == 8
    assert store.read_log(run_id, 4) == b"two\n"
    assert store.read_log(run_id, 0, 3) == b"one"
    write(folder.driver_log, b"three\n")
    assert store.read_log(run_id, 8) == b"three\n"
    assert store.read_log(run_id, 1 << 40) == b""  # past the end: nothing, no error
    write(folder.process_log(1), b"rank one\n")
    assert store.read_log(run_id, name=process_log_name(1)) == b"rank one\n"
    assert store.log_size(run_id, process_log_name(1)) == 9


@pytest.mark.parametrize("name", ["../../aml.db", "/etc/passwd", "metrics/x.jsonl", "work/a"])
def test_only_the_runs_logs_are_read_as_logs(store: WorkspaceStore, name: str) -> None:
    run_id = new_run(store)
    with pytest.raises(AmlError):
        store.read_log(run_id, name=name)


def test_metrics_are_written_per_process_and_read_by_cursor(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    writer = store.metric_writer(run_id)
    writer.scalar("loss", 1.0, None)
    writer.scalar("loss", 0.5, None)
    points, cursor = store.metric_points(run_id)
    assert [(p[1], p[2]) for p in points] == [("loss", 1.0), ("loss", 0.5)]
    assert store.metric_points(run_id, cursor)[0] == []
    writer.scalar("acc", 0.9, None)
    new, _ = store.metric_points(run_id, cursor)
    assert [(p[1], p[2]) for p in new] == [("acc", 0.9)]
    assert store.read_metrics(run_id) == {"loss": [1.0, 0.5], "acc": 0.9}
    assert store.read_metrics(run_id, "acc") == {"acc": 0.9}
    assert [h["value"] for h in store.metric_history(run_id, "loss")] == [1.0, 0.5]
    assert store.live_metric_values(run_id) == {"loss": 0.5, "acc": 0.9}


@pytest.mark.parametrize("final", [True, False])
def test_a_runs_metric_summary_is_saved_from_what_it_logged(
    store: WorkspaceStore, final: bool
) -> None:
    run_id = new_run(store, status=RunStatus.RUNNING)
    writer = store.metric_writer(run_id)
    for value in (3, 2, 1):
        writer.scalar("loss", value, None)
    store.summarize_metrics(run_id, final=final)
    assert store.metric_summaries([run_id]) == {run_id: {"loss": 1}}
    assert store.read_metrics(run_id) == {"loss": [3, 2, 1]}  # indexed or not, the same


def test_live_files_are_listed_and_opened_never_through_links(
    store: WorkspaceStore, tmp_path: os.PathLike[str]
) -> None:
    run_id = new_run(store)
    folder = store.run_folder(run_id)
    write(folder.driver_log, b"log\n")
    write(folder.outputs / "model.pkl", b"12345")
    write(folder.logs / "events.out.tfevents.1", b"e")
    write(folder.work / "scratch.txt", b"not the run's")  # only ./outputs and ./logs count
    secret = os.path.join(tmp_path, "secret")
    write(secret, b"secret")  # type: ignore[arg-type]
    os.symlink(secret, folder.outputs / "passwd")
    os.symlink(tmp_path, folder.outputs / "linked")  # a folder of links: outputs/linked/secret
    assert store.live_files(run_id) == {
        DRIVER_LOG: 4,
        "outputs/model.pkl": 5,
        "logs/events.out.tfevents.1": 1,
    }
    with store.open_live_file(run_id, "outputs/model.pkl") as f:
        assert f.read() == b"12345"
    with store.open_live_file(run_id, DRIVER_LOG) as f:
        assert f.read() == b"log\n"
    names = ("outputs/passwd", "outputs/linked/secret", "outputs", "work/scratch.txt")
    for name in (*names, "outputs/none", "../secret"):
        with pytest.raises(AmlError):
            store.open_live_file(run_id, name)


@pytest.fixture(scope="module")
def one_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[WorkspaceStore, str]]:
    """One store and run for every example (hypothesis and per-test fixtures do not mix)."""
    backend = conformance.BACKENDS["embedded"](tmp_path_factory.mktemp("streams"))
    yield backend, new_run(backend)
    backend.close()


@settings(max_examples=60, deadline=None)
@given(name=st.text(min_size=1, max_size=40))
def test_any_log_name_from_outside_is_a_clear_error_or_a_read(
    one_run: tuple[WorkspaceStore, str], name: str
) -> None:
    backend, run_id = one_run
    try:
        data = backend.read_log(run_id, name=name)
    except AmlError:
        return
    assert data == b""  # no such log: nothing read, and never a file outside the run's logs

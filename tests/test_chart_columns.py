"""A chart's first view of an ended run comes from its metric index (``metric_columns``), and
says exactly what reading the files says: the same series, downsampled the same, the same
other points of each metric in the same order, and the same cursor to poll on from."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_metric_index import _rows, canon, line, mixed_run

from aml_jupyter import Experiment
from aml_jupyter.frontends.jupyter.chartdata import chart_columns, indexed_chart_columns
from aml_jupyter.frontends.jupyter.service import WorkspaceService
from aml_jupyter.store.metric_columns import read_columns
from aml_jupyter.store.metric_index import build_index, index_dir
from aml_jupyter.store.metrics import read_new_points

RANGES = [(None, None), (0, 5), (None, 3), (2, None), (10**6, None)]


def by_metric(others: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Other points per metric, in order: what the client groups them by (two metrics' points
    logged in the same microsecond may come in either order)."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for o in others:
        grouped.setdefault(o["name"], []).append(o)
    return grouped


def assert_same_charts(folder: Path, names: list[str | None], in_order: bool = True) -> None:
    rows, cursor = read_new_points(folder)
    for name in names:
        columns = read_columns(folder, name)
        assert columns is not None and columns.cursor == cursor
        for points in (None, 4, 10, 2000):
            for low, high in RANGES:
                got = indexed_chart_columns(columns, points, low, high)
                want = chart_columns(rows, points, name, low, high)
                assert canon(got[0]) == canon(want[0]), (name, points, low, high)
                if in_order:  # charts in the order first logged (unless first in the same µs)
                    assert list(got[0]) == list(want[0])
                assert canon(by_metric(got[1])) == canon(by_metric(want[1]))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "run" / "metrics"
    mixed_run(folder)
    torn = folder / "0600.jsonl"  # an ended run's files end with whole lines
    torn.write_bytes(torn.read_bytes().rsplit(b"\n", 1)[0] + b"\n")
    return folder


def test_the_index_gives_the_charts_the_files_give(folder: Path) -> None:
    assert read_columns(folder) is None  # not indexed yet: the caller reads the files
    build_index(folder)
    assert_same_charts(folder, [None, "loss", "odd", "tie", "big", "r", "curve", "nope"])
    assert read_columns(folder, "nope").scalars == {}  # type: ignore[union-attr]


def test_an_index_behind_its_files_or_damaged_is_not_used(folder: Path) -> None:
    build_index(folder)
    with open(folder / "1000.jsonl", "ab") as f:
        f.write(line("s", "loss", 0.125, 99, 50))  # logged after the index
    assert read_columns(folder) is None
    build_index(folder)
    with open(folder / "1000.jsonl", "ab") as f:
        f.write(b'["s","loss",0.1')  # a line being written
    assert read_columns(folder) is None
    whole = folder / "1000.jsonl"
    whole.write_bytes(whole.read_bytes().rsplit(b"\n", 1)[0] + b"\n")  # it ended after all
    build_index(folder)
    (folder / "0001.jsonl").write_bytes(line("s", "new", 1, 1, 1))  # a new process's file
    assert read_columns(folder) is None
    (folder / "0001.jsonl").unlink()
    assert read_columns(folder) is not None
    (index_dir(folder) / "values").write_bytes(b"\x00" * 3)  # not the size the manifest says
    assert read_columns(folder) is None


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(files=st.lists(st.lists(_rows, max_size=25), min_size=1, max_size=3))
def test_any_indexed_run_charts_as_its_files_do(files: list[list[bytes]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "metrics"
        folder.mkdir()
        for i, lines in enumerate(files):
            (folder / f"{i}.jsonl").write_bytes(b"".join(row + b"\n" for row in lines))
        build_index(folder)
        assert_same_charts(folder, [None, "a", "b"], in_order=False)


def test_the_rest_api_reads_an_ended_runs_charts_from_its_index(
    exp: Experiment, tmp_path: Path
) -> None:
    run = exp.start_logging()
    for i in range(3000):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.log("C", 0.5)
    run.log_list("sizes", [1, 2, 3])
    service = WorkspaceService(tmp_path)  # the ws fixture's workspace is in tmp_path
    live = service.metrics(run.id, None, points=100)  # a live run: from the files
    run.complete()
    store = exp.workspace.store
    assert store.metric_columns(run.id) is not None
    ended = service.metrics(run.id, None, points=100)
    rows, cursor = store.metric_points(run.id)
    scalars, others = chart_columns(rows, 100)
    assert ended["cursor"] == cursor == live["cursor"] and ended["terminal"]
    assert canon(ended["scalars"]) == canon(scalars) == canon(live["scalars"])
    assert ended["scalars"]["loss"]["downsampled"] and ended["scalars"]["loss"]["count"] == 3000
    assert canon(ended["others"]) == canon(others)
    zoom = service.metrics(run.id, None, points=100, name="loss", from_step=10, to_step=20)
    assert zoom["scalars"]["loss"]["steps"] == list(range(10, 21)) and zoom["others"] == []
    # Polling on from the cursor finds nothing new, as from the files.
    assert service.metrics(run.id, ended["cursor"])["scalars"] == {}


def test_the_widget_folds_an_ended_runs_index_as_its_points(exp: Experiment) -> None:
    from aml_jupyter.frontends.widgets.feed import RunFeed

    run = exp.start_logging()
    for i in range(50):
        run.log("loss", 1.0 / (i + 1), step=i)
        run.log("acc", i / 50)  # no step
    run.log("C", 0.5)
    run.log("note", "text")  # a scalar that is no number
    run.log("mixed", 1)
    run.log("mixed", 2.5)  # an int among floats
    run.log_list("sizes", [1, 2, 3])
    run.log_row("curve", x=1, y=0.5)
    run.log_row("curve", x=2, y=0.25)
    run.log_table("t", {"a": [1, 2], "b": ["x", "y"]})
    run.complete()

    def folded(use_index: bool) -> tuple[dict[str, Any], dict[str, Any], str | None]:
        feed = RunFeed(run)
        feed.read_status()
        fetched = feed.fetch_metric_points()
        assert isinstance(fetched, list) != use_index
        feed.fold_metrics(fetched)
        series = {
            name: (s.kind, list(s.values), list(s.steps), s.stepped, s.count, s.last, s.last_step)
            for name, s in feed.series.items()
        }
        return series, {n: t.data() for n, t in feed.tables.items()}, feed.metric_cursor

    indexed = folded(True)
    (run.workspace.store.run_folder(run.id).root / "metric_index" / "manifest.json").unlink()
    from_files = folded(False)
    assert canon(indexed) == canon(from_files)
    assert sorted(indexed[0]) == ["C", "acc", "loss", "mixed", "note", "sizes"]

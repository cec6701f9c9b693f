"""A Run keeps its record: listings hand it over, reads of it cost no SQL, writers keep it true.

Statements are counted with the embedded store's test hook (a SQLite trace callback): over a
network each would be a round trip.
"""

from __future__ import annotations

import pytest

from aml_jupyter import Experiment, Run, Workspace
from aml_jupyter.status import RunStatus
from aml_jupyter.tracking.query import list_runs, run_page


@pytest.fixture
def twenty(exp: Experiment) -> list[Run]:
    runs = []
    for i in range(20):
        run = exp.start_logging(snapshot_directory=None, display_name=f"run {i}")
        run.set_tags({"i": str(i), "stage": "dev"})
        run.complete()
        runs.append(run)
    return runs


def test_listing_twenty_runs_with_status_name_and_tags_takes_three_statements(
    ws: Workspace, exp: Experiment, twenty: list[Run]
) -> None:
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        runs = list(exp.get_runs())
        shown = [(r.status, r.display_name, r.tags) for r in runs]
    assert len(seen) <= 3, seen  # was 142 when each read asked the database again
    assert len(shown) == 20
    assert shown[0] == ("Completed", "run 19", {"i": "19", "stage": "dev"})
    assert shown[-1] == ("Completed", "run 0", {"i": "0", "stage": "dev"})


def test_a_cached_run_costs_nothing_to_show(ws: Workspace, twenty: list[Run]) -> None:
    run = ws.get_run(twenty[3].id)
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        text = repr(run)
        html = run._repr_html_()
        facts = (run.number, run.type, run.name, run.description, run.get_status())
    assert seen == []  # was 4 for repr alone
    assert "Status: Completed" in text and "run 3" in html
    assert facts == (4, "interactive", "run 3", None, "Completed")


def test_children_come_with_their_records(ws: Workspace, exp: Experiment) -> None:
    parent = exp.start_logging(snapshot_directory=None)
    for name in ("a", "b", "c"):
        with parent.child_run(name) as child:
            child.tag("k", name)
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        children = list(parent.get_children())
        shown = sorted((c.display_name, c.status, c.tags["k"]) for c in children)
    assert len(seen) <= 3, seen
    assert shown == [("a", "Completed", "a"), ("b", "Completed", "b"), ("c", "Completed", "c")]
    parent.complete()


def test_get_status_reads_again_only_while_the_run_is_active(
    ws: Workspace, exp: Experiment
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    seen_elsewhere = ws.get_run(run.id)
    run.complete()
    assert seen_elsewhere.status == RunStatus.RUNNING  # as read
    assert seen_elsewhere.get_status() == RunStatus.COMPLETED  # read again: it was active
    assert seen_elsewhere.status == RunStatus.COMPLETED  # and kept
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        assert seen_elsewhere.get_status() == RunStatus.COMPLETED
    assert seen == []  # an ended run never changes: no statement


def test_writers_keep_the_cache_true(ws: Workspace, exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    run.tag("a", "1")
    assert run.tags == {"a": "1"}
    run.set_tags({"b": 2})
    run.remove_tags("a")
    run.display_name = "renamed"
    run.description = "about"
    assert "p" not in run.properties  # read once ...
    run.add_properties({"p": "v"})  # ... and kept up to date by the writer
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        cached = (run.tags, run.display_name, run.description, run.properties["p"])
    assert seen == []
    assert cached == ({"b": "2"}, "renamed", "about", "v")
    fresh = ws.get_run(run.id)
    assert (fresh.get_tags(), fresh.display_name, fresh.description) == (
        {"b": "2"},
        "renamed",
        "about",
    )
    run.complete()
    assert run.status == RunStatus.COMPLETED  # ending it updates the record it keeps


def test_refresh_and_the_v1_getters_read_again(ws: Workspace, exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    other = ws.get_run(run.id)
    other.display_name = "from elsewhere"
    other.tag("t", "x")
    assert run.display_name == run.id  # as read
    assert run.get_tags() == {"t": "x"}  # v1's getter asks again
    run.refresh()
    assert run.display_name == "from elsewhere"
    run.complete()


def test_query_listings_read_each_page_in_few_statements(
    ws: Workspace, exp: Experiment, twenty: list[Run]
) -> None:
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        rows = list_runs(ws, "tests", top=20)
    assert len(seen) <= 3, seen
    assert [r["display_name"] for r in rows[:2]] == ["run 19", "run 18"]
    with ws.store.count_statements() as seen:  # type: ignore[attr-defined]
        page = run_page(ws, "tests", limit=20, offset=0)
    assert len(seen) <= 5, seen
    assert page["total"] == 20 and page["runs"][0]["tags"] == {"i": "19", "stage": "dev"}

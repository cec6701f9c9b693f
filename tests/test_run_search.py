"""Run listings as the sidebar uses them: text search, counts, deep pages, old workspaces."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aml_jupyter import Experiment, Workspace
from aml_jupyter.store.database import _statements
from aml_jupyter.store.schema import MIGRATIONS, SCHEMA_VERSION
from aml_jupyter.tracking.query import run_page


def ids(page: dict) -> list[str]:
    return [r["id"] for r in page["runs"]]


def test_search_follows_renames_and_tags_and_reads_text_literally(ws: Workspace) -> None:
    exp = Experiment(ws, "search")
    a = exp.start_logging(display_name="resnet_50%", snapshot_directory=None)
    b = exp.start_logging(display_name="vit", snapshot_directory=None)
    for run in (a, b):
        run.complete()
    assert ids(run_page(ws, text="RESNET")) == [a.id]
    assert ids(run_page(ws, text="50%")) == [a.id]
    # Short text (under 3 characters) takes another path: % is still a character there.
    assert ids(run_page(ws, text="0%")) == [a.id]
    assert run_page(ws, text="t%")["total"] == 0

    b.display_name = "vit-large"
    assert ids(run_page(ws, text="large")) == [b.id]
    b.tag("owner", "marta")
    assert ids(run_page(ws, text="MARTA")) == [b.id]
    b.remove_tags("owner")
    assert run_page(ws, text="marta")["total"] == 0
    assert ids(run_page(ws, text="search")) == [b.id, a.id]  # the experiment's name


def test_counts_follow_new_runs_and_status_changes(ws: Workspace) -> None:
    exp = Experiment(ws, "counts")
    runs = [exp.start_logging(snapshot_directory=None) for _ in range(5)]
    assert run_page(ws, limit=2)["total"] == 5
    assert run_page(ws, status=["Running"], limit=2)["total"] == 5
    runs[0].complete()
    assert run_page(ws, status=["Running"], limit=2)["total"] == 4
    assert run_page(ws, status=["Completed"], limit=2)["total"] == 1
    exp.start_logging(snapshot_directory=None)
    assert run_page(ws, limit=2)["total"] == 6
    # A write by another process (another connection) is seen as well.
    conn = sqlite3.connect(ws.folder / "aml.db")
    with conn:
        conn.execute("UPDATE runs SET status = 'Failed' WHERE id = ?", (runs[1].id,))
    conn.close()
    assert run_page(ws, status=["Running"], limit=2)["total"] == 4
    assert run_page(ws, status=["Failed"], limit=2)["total"] == 1


def test_every_page_of_a_listing_in_order(ws: Workspace) -> None:
    a, b = Experiment(ws, "a"), Experiment(ws, "b")
    made = [(a if i % 3 else b).start_logging(snapshot_directory=None) for i in range(23)]
    for run in made:
        run.complete()
    newest_first = [r.id for r in reversed(made)]
    for experiment, expected in [
        (None, newest_first),
        ("b", [i for i in newest_first if i.startswith("b_")]),
    ]:
        pages = [run_page(ws, experiment, offset=o, limit=5) for o in range(0, 30, 5)]
        assert [i for p in pages for i in ids(p)] == expected
        oldest = [
            run_page(ws, experiment, offset=o, limit=5, descending=False) for o in range(0, 30, 5)
        ]
        assert [i for p in oldest for i in ids(p)] == expected[::-1]
        assert {p["total"] for p in pages} == {len(expected)}


def test_a_workspace_from_before_search_is_upgraded(tmp_path: Path) -> None:
    folder = tmp_path / ".aml"
    folder.mkdir()
    conn = sqlite3.connect(folder / "aml.db")
    for statement in _statements(MIGRATIONS[0]):
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute("INSERT INTO experiments (name, created_utc) VALUES ('old', 1.0)")
    conn.execute(
        "INSERT INTO runs (id, experiment_id, number, run_type, display_name, status,"
        " definition, created_utc) VALUES ('old_1_abc', 1, 1, 'azureml.scriptrun', 'legacy',"
        " 'Completed', '{\"script\": \"train_old.py\"}', 2.0)"
    )
    conn.execute("INSERT INTO run_tags VALUES ('old_1_abc', 'team', 'blue')")
    conn.commit()
    conn.close()

    ws = Workspace(folder)
    assert ws.store.db.query_one("PRAGMA user_version")[0] == SCHEMA_VERSION
    for text in ("legacy", "train_old", "team=blue", "old_1"):
        assert ids(run_page(ws, text=text)) == ["old_1_abc"], text
    assert ws.store.experiment_summaries()[0].run_count == 1

"""Workspace: create, find, schema migrations, dicts by name."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from aml_jupyter import AmlError, ComputeTarget, Experiment, Workspace
from aml_jupyter.store.schema import SCHEMA_VERSION


def test_create_makes_an_aml_folder_with_a_migrated_database(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "proj")
    assert ws.folder == (tmp_path / "proj" / ".aml").resolve()
    assert ws.name == "proj"
    conn = sqlite3.connect(ws.folder / "aml.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_create_twice_is_fine_unless_exist_ok_false(tmp_path: Path) -> None:
    a = Workspace.create(tmp_path)
    assert Workspace.create(tmp_path) is a
    with pytest.raises(AmlError, match="exists already"):
        Workspace.create(tmp_path, exist_ok=False)


def test_from_config_searches_parents_and_honours_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.create(tmp_path)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert Workspace.from_config() == ws
    other = Workspace.create(tmp_path / "elsewhere")
    monkeypatch.setenv("AML_WORKSPACE", str(other.folder))
    assert Workspace.from_config() == other


def test_from_config_without_workspace_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(AmlError, match="aml workspace create"):
        Workspace.from_config(tmp_path)


def test_opening_a_folder_without_workspace_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(AmlError, match="No workspace"):
        Workspace(tmp_path / "nothing")


def test_experiments_and_compute_targets_are_dicts_by_name(ws: Workspace) -> None:
    Experiment(ws, "one")
    Experiment(ws, "two")
    assert sorted(ws.experiments) == ["one", "two"]
    assert isinstance(ws.experiments["one"], Experiment)
    assert list(ws.compute_targets) == ["local"]
    assert ws.compute_targets["local"].type == "local"
    assert [t.name for t in ComputeTarget.list(ws)] == ["local"]


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    ws = Workspace.create(tmp_path / "new")
    path = ws.folder / "aml.db"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    from aml_jupyter.store.database import Database

    with pytest.raises(AmlError, match="newer aml_jupyter"):
        Database(path)


def _schema(path: Path) -> set[tuple[str, str]]:
    conn = sqlite3.connect(path)
    try:
        return {(r[0], r[1] or "") for r in conn.execute("SELECT name, sql FROM sqlite_master")}
    finally:
        conn.close()


def test_a_new_database_built_at_once_has_the_schema_the_migrations_build(tmp_path: Path) -> None:
    from aml_jupyter.store.database import Database, create_database

    Database(tmp_path / "stepwise.db").close()  # the path an old workspace's upgrade takes
    create_database(tmp_path / "new.db")
    assert _schema(tmp_path / "new.db") == _schema(tmp_path / "stepwise.db")
    conn = sqlite3.connect(tmp_path / "new.db")
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["new.db", "stepwise.db"]


def test_a_database_there_already_is_left_as_it_is(tmp_path: Path) -> None:
    from aml_jupyter.store.database import create_database

    ws = Workspace.create(tmp_path)
    Experiment(ws, "kept")
    create_database(ws.folder / "aml.db")
    assert "kept" in Workspace(tmp_path).experiments
    assert not [p for p in ws.folder.iterdir() if p.name.endswith(".new")]


def _create(path: str) -> None:
    from aml_jupyter.store.database import create_database

    create_database(Path(path))


def test_processes_creating_one_database_at_once_end_with_one_whole_database(
    tmp_path: Path,
) -> None:
    import multiprocessing

    path = tmp_path / "aml.db"
    context = multiprocessing.get_context("spawn")  # real, separate processes
    workers = [context.Process(target=_create, args=(str(path),)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    assert _schema(path) and sorted(p.name for p in tmp_path.iterdir()) == ["aml.db"]
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"

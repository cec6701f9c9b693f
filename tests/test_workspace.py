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

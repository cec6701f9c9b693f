"""``aml dataset list|show|register|download`` as real subprocesses over a real workspace:
local files, a glob, a registered local datastore, tabular formats, lineage the store
recorded, and the errors a user meets (exit code 2, one line saying what to do)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import Dataset, Workspace
from tests.test_cli import aml, aml_json


def _data(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "train.csv").write_text("a,b\n1,2\n3,4\n")
    (folder / "notes.txt").write_text("hello\n")
    return folder


def test_register_list_show_and_download(ws: Workspace, tmp_path: Path) -> None:
    data = _data(tmp_path / "data")
    done = aml(
        ws.folder, "dataset", "register", "raw", str(data), "--tag", "stage=dev",
        "--description", "two files",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "raw:1"
    assert "2 file(s)" in done.stderr
    tab = aml(ws.folder, "dataset", "register", "table", str(data / "*.csv"), "--tabular", "csv")
    assert tab.returncode == 0, tab.stderr
    assert Dataset.get_by_name(Workspace(ws.folder), "table").to_pandas_dataframe()["b"].sum() == 6

    rows = aml_json(ws.folder, "dataset", "list")
    assert [(r["name"], r["version"], r["kind"], r["files"]) for r in rows] == [
        ("raw", 1, "file", 2),
        ("table", 1, "tabular", 1),
    ]
    assert rows[0]["size"] == len("a,b\n1,2\n3,4\n") + len("hello\n")
    table = aml(ws.folder, "dataset", "list")
    assert table.stdout.splitlines()[0].split() == [
        "NAME", "VERSION", "KIND", "FILES", "SIZE", "REGISTERED",
    ]  # fmt: skip
    assert table.stdout.splitlines()[1].split()[:4] == ["raw", "1", "file", "2"]

    # Same files again: the same version. Other files: refused, then a new version.
    again = aml(ws.folder, "dataset", "register", "raw", str(data))
    assert again.returncode == 0 and again.stdout.strip() == "raw:1", again.stderr
    other = aml(ws.folder, "dataset", "register", "raw", str(data / "notes.txt"))
    assert other.returncode == 2 and "--new-version" in other.stderr
    newer = aml(ws.folder, "dataset", "register", "raw", str(data / "notes.txt"), "--new-version")
    assert newer.stdout.strip() == "raw:2", newer.stderr

    run_ws = Workspace(ws.folder)
    first = Dataset.get_by_name(run_ws, "raw", 1)
    run_ws.store.add_run_datasets("run-a", "input", {"training": first.id})
    shown = json.loads(aml(ws.folder, "dataset", "show", "raw", "--version", "1").stdout)
    assert (shown["version"], shown["files"], shown["tags"]) == (1, 2, {"stage": "dev"})
    assert shown["description"] == "two files"
    assert [f["path"] for f in shown["file_names"]] == ["notes.txt", "train.csv"]
    assert shown["versions"] == [2, 1]
    assert shown["lineage"] == [{"run_id": "run-a", "direction": "input", "as": "training"}]
    assert json.loads(aml(ws.folder, "dataset", "show", "raw").stdout)["version"] == 2
    capped = json.loads(aml(ws.folder, "dataset", "show", "raw", "-w", str(ws.folder),
                            "--version", "1", "--files", "1").stdout)  # fmt: skip
    assert len(capped["file_names"]) == 1 and capped["files_cut"] is True

    out = tmp_path / "out"
    got = aml(ws.folder, "dataset", "download", "raw", str(out), "--version", "1")
    assert got.returncode == 0, got.stderr
    assert sorted(Path(p).name for p in got.stdout.split()) == ["notes.txt", "train.csv"]
    assert (out / "train.csv").read_text() == "a,b\n1,2\n3,4\n"
    twice = aml(ws.folder, "dataset", "download", "raw", str(out), "--version", "1")
    assert twice.returncode == 2 and "--overwrite" in twice.stderr
    forced = aml(ws.folder, "dataset", "download", "raw", str(out), "--version", "1",
                 "--overwrite")  # fmt: skip
    assert forced.returncode == 0, forced.stderr
    rows_of = aml(ws.folder, "dataset", "download", "table", str(tmp_path / "t"))
    assert rows_of.returncode == 0 and (tmp_path / "t" / "train.csv").is_file(), rows_of.stderr

    # Changed bytes: download refuses, naming the file, and writes nothing.
    (data / "train.csv").write_text("a,b\n9,9\n3,4\n")
    changed = aml(ws.folder, "dataset", "download", "raw", str(tmp_path / "o2"), "--version", "1")
    assert changed.returncode == 2 and "train.csv" in changed.stderr
    assert not (tmp_path / "o2" / "train.csv").exists()

    gone = aml(ws.folder, "dataset", "unregister", "raw")
    assert gone.returncode == 0 and "2 version(s)" in gone.stderr, gone.stderr
    assert [r["name"] for r in aml_json(ws.folder, "dataset", "list")] == ["table"]
    assert (data / "notes.txt").is_file()  # the files stay
    unknown = aml(ws.folder, "dataset", "unregister", "raw")
    assert unknown.returncode == 2 and "raw" in unknown.stderr


def test_register_files_of_a_datastore(ws: Workspace, tmp_path: Path) -> None:
    _data(tmp_path / "store" / "2026")
    attached = aml(ws.folder, "datastore", "attach", "lake", "--local", str(tmp_path / "store"))
    assert attached.returncode == 0, attached.stderr
    done = aml(ws.folder, "dataset", "register", "lake_csv", "lake:2026/*.csv", "--tabular", "csv")
    assert done.returncode == 0, done.stderr
    shown = json.loads(aml(ws.folder, "dataset", "show", "lake_csv").stdout)
    assert shown["definition"]["sources"] == [{"datastore": "lake", "path": "2026/*.csv"}]
    assert [f["path"] for f in shown["file_names"]] == [
        "train.csv"
    ]  # relative to the glob's folder
    unknown = aml(ws.folder, "dataset", "register", "x", "nolake:*.csv")
    assert unknown.returncode == 2 and "No datastore named 'nolake'" in unknown.stderr
    assert "lake" in unknown.stderr  # it names the ones there are


def test_mistakes_say_what_to_do(ws: Workspace, tmp_path: Path) -> None:
    empty = aml(ws.folder, "dataset", "list")
    assert empty.returncode == 0 and "aml dataset register" in empty.stderr
    _data(tmp_path / "d")
    aml(ws.folder, "dataset", "register", "d", str(tmp_path / "d"))
    missing = aml(ws.folder, "dataset", "show", "nope")
    assert missing.returncode == 2 and "registered: d" in missing.stderr
    version = aml(ws.folder, "dataset", "show", "d", "--version", "7")
    assert version.returncode == 2 and "its versions: 1" in version.stderr
    zero = aml(ws.folder, "dataset", "show", "d", "--version", "0")
    assert zero.returncode == 2 and "whole number >= 1" in zero.stderr
    bad = aml(ws.folder, "dataset", "register", "bad/name", str(tmp_path / "d"))
    assert bad.returncode == 2 and "not allowed" in bad.stderr
    nothing = aml(ws.folder, "dataset", "register", "e", str(tmp_path / "none" / "*.csv"))
    assert nothing.returncode == 2 and nothing.stderr.startswith("aml: error:")
    assert [r["name"] for r in aml_json(ws.folder, "dataset", "list")] == ["d"]
    fmt = aml(ws.folder, "dataset", "register", "t", str(tmp_path / "d"), "--tabular", "xls")
    assert fmt.returncode == 2 and "csv" in fmt.stderr


def test_no_workspace_makes_none(tmp_path_factory: pytest.TempPathFactory) -> None:
    bare = tmp_path_factory.mktemp("bare")
    assert Workspace.find(bare) is None  # precondition: no .aml above it
    for args in (["list"], ["show", "x"], ["register", "x", str(bare)], ["download", "x", "o"]):
        result = aml(bare, "dataset", *args)
        assert result.returncode == 2 and "aml workspace create" in result.stderr, args
    assert Workspace.find(bare) is None


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=st.text(min_size=1, max_size=60))
def test_any_command_line_path_is_a_source_or_one_error(ws: Workspace, text: str) -> None:
    """Property: a PATH is a URL (``://``), ``DATASTORE:rest`` for a registered datastore,
    otherwise the text itself (a local path or glob); a datastore-like prefix that names no
    datastore is an AmlError that says how to write a local path instead."""
    from aml_jupyter.errors import AmlError
    from aml_jupyter.frontends.dataset_views import _source

    try:
        got = _source(ws, text)
    except AmlError as exc:
        prefix = text.split(":", 1)[0]
        assert ":" in text and "://" not in text and f"No datastore named {prefix!r}" in str(exc)
        assert f"./{text}" in str(exc)
        return
    if isinstance(got, tuple):
        store, rest = got
        assert text == f"{store.name}:{rest}" and store.name == "workspaceblobstore"
    else:
        assert got == text


def test_a_datastore_prefix_picks_the_datastore(ws: Workspace) -> None:
    from aml_jupyter.frontends.dataset_views import _source

    store, rest = _source(ws, "workspaceblobstore:in/*.csv")
    assert (store.name, rest) == ("workspaceblobstore", "in/*.csv")
    assert _source(ws, "s3://bucket/x.csv") == "s3://bucket/x.csv"
    assert _source(ws, "plain/*.csv") == "plain/*.csv"


def test_the_list_asks_the_store_the_same_few_queries_for_any_number_of_datasets(
    ws: Workspace,
) -> None:
    # Each dataset's runs were once a lineage query a dataset, and its tags another.
    from aml_jupyter.frontends.dataset_views import dataset_rows

    def statements(count: int) -> int:
        start = len(ws.store.list_datasets())
        for i in range(count):
            name = f"d{start + i:04d}"
            record, _ = ws.store.add_dataset(
                name, "file", {"sources": [name]}, [("f.csv", 1, "0" * 64)], fingerprint=name
            )
            ws.store.add_run_datasets(f"run-{name}", "input", {"train": record.id})
            ws.store.add_run_datasets(f"run-{name}", "output", {"again": record.id})
        seen: list[str] = []
        ws.store.db.trace(seen.append)  # type: ignore[attr-defined]
        try:
            rows = dataset_rows(ws)
        finally:
            ws.store.db.trace(None)  # type: ignore[attr-defined]
        assert [r["runs"] for r in rows] == [1] * len(rows)  # one run read and wrote each
        return len(seen)

    assert statements(3) == statements(50)

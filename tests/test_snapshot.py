"""Snapshot rules: ignore files, always-ignored folders, limits, content addressing."""

from __future__ import annotations

from pathlib import Path

import pytest

from aml_jupyter import AmlError, Experiment, ScriptRunConfig, Workspace
from aml_jupyter.snapshot.snapshot import load_snapshot, take_snapshot
from tests.conftest import write


def names(ws: Workspace, folder: Path) -> list[str]:
    return [f.name for f in take_snapshot(ws.store, folder).files]


def test_always_ignored_folders(ws: Workspace, project: Path) -> None:
    write(project, "train.py", "")
    for junk in (
        ".git/HEAD",
        "__pycache__/x.pyc",
        ".ipynb_checkpoints/a.ipynb",
        "pkg/__pycache__/y.pyc",
    ):
        write(project, junk, "junk")
    write(project, "venv/pyvenv.cfg", "home = /usr")
    write(project, "venv/lib/site.py", "")
    Workspace.create(project / "nested")
    write(project, "pkg/mod.py", "")
    assert names(ws, project) == ["pkg/mod.py", "train.py"]


def test_amlignore_wins_over_gitignore_and_they_do_not_merge(ws: Workspace, project: Path) -> None:
    write(project, "a.py", "")
    write(project, "data/big.csv", "1")
    write(project, "notes.md", "")
    write(project, ".gitignore", "*.md\n")
    assert names(ws, project) == [".gitignore", "a.py", "data/big.csv"]
    write(project, ".amlignore", "data/\n")
    assert names(ws, project) == [".amlignore", ".gitignore", "a.py", "notes.md"]


def test_gitwildmatch_negation_and_anchoring(ws: Workspace, project: Path) -> None:
    write(project, ".amlignore", "*.log\n!keep.log\n/top.txt\n")
    for name in ("a.log", "keep.log", "top.txt", "sub/top.txt"):
        write(project, name, "x")
    assert names(ws, project) == [".amlignore", "keep.log", "sub/top.txt"]


def test_limits_name_the_largest_offenders(ws: Workspace, project: Path) -> None:
    write(project, "train.py", "")
    write(project, "data/huge.bin", "x" * 5000)
    write(project, "small/a.txt", "x")
    with pytest.raises(AmlError) as info:
        take_snapshot(ws.store, project, max_bytes=1000)
    message = str(info.value)
    assert "data/" in message and ".amlignore" in message and "over the limit" in message
    with pytest.raises(AmlError, match="3 files"):
        take_snapshot(ws.store, project, max_files=2)


def test_limit_from_environment_and_no_half_made_run(
    ws: Workspace, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "train.py", "print(1)")
    write(project, "blob.bin", "x" * 2000)
    monkeypatch.setenv("AML_SNAPSHOT_MAX_BYTES", "1000")
    exp = Experiment(ws, "limits")
    with pytest.raises(AmlError, match="over the limit"):
        exp.submit(ScriptRunConfig(project, "train.py"))
    assert list(exp.get_runs()) == []
    config = ScriptRunConfig(project, "train.py")
    config.snapshot_max_bytes = 10_000
    exp.submit(config).wait_for_completion()


def test_unchanged_files_are_stored_once(ws: Workspace, project: Path) -> None:
    for i in range(20):
        write(project, f"f{i}.txt", f"content {i}")
    first = take_snapshot(ws.store, project)
    blobs_before = sum(1 for _ in ws.blobs.root.rglob("*") if _.is_file())
    second = take_snapshot(ws.store, project)
    assert second.id == first.id
    assert sum(1 for _ in ws.blobs.root.rglob("*") if _.is_file()) == blobs_before
    write(project, "f3.txt", "changed")
    third = take_snapshot(ws.store, project)
    assert third.id != first.id
    changed = {f.name: f.sha256 for f in third.files}
    assert changed["f3.txt"] != {f.name: f.sha256 for f in first.files}["f3.txt"]
    assert [f.name for f in load_snapshot(ws.blobs, third.id).files] == [
        f.name for f in third.files
    ]


def test_executable_bit_survives_restore(ws: Workspace, project: Path, tmp_path: Path) -> None:
    script = write(project, "run.sh", "#!/bin/sh\necho hi\n")
    script.chmod(0o755)
    snap = take_snapshot(ws.store, project)
    from aml_jupyter.snapshot.snapshot import restore_snapshot

    out = restore_snapshot(ws.blobs, snap.id, tmp_path / "out")
    assert (out / "run.sh").stat().st_mode & 0o111


def test_start_logging_over_the_limit_says_how_to_skip_the_snapshot(
    ws: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "data.bin", "x" * 5000)
    monkeypatch.setenv("AML_SNAPSHOT_MAX_BYTES", "1000")
    exp = Experiment(ws, "nb")
    with pytest.raises(AmlError, match="snapshot_directory=None"):
        exp.start_logging(snapshot_directory=tmp_path)
    assert list(exp.get_runs()) == []
    run = exp.start_logging(snapshot_directory=None)
    assert run.get_snapshot_id() is None

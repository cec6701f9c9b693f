"""A run's working folder from the cached tree of its snapshot (snapshot/worktree.py).

Real runs (a real supervisor and script) for reuse, isolation and the blob store; the cache
itself (``WorkTrees``) with real files for what a killed process leaves behind and eviction.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aml_jupyter import AmlError, Experiment, Run, ScriptRunConfig, Workspace
from aml_jupyter.paths import checked_relative_name
from aml_jupyter.snapshot.snapshot import entry_name, load_snapshot, take_snapshot
from aml_jupyter.snapshot.worktree import FOLDER, MIN_FILES, STALE_S, STATE, TREE, WorkTrees
from tests.conftest import write

#: The script of every run here: ``mess`` changes its working folder every way it can;
#: ``race DIR`` changes a.txt after both runs of a pair started; each lists what it found.
SCRIPT = """
import hashlib, json, os, sys, time

def listing():
    out = {}
    for d, dirs, files in os.walk("."):
        dirs[:] = [x for x in dirs if not (d == "." and x in ("outputs", "logs"))]
        for f in files + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            p = os.path.join(d, f)
            name = os.path.relpath(p).replace(os.sep, "/")
            if os.path.islink(p):
                out[name] = ["link", False]
            else:
                data = open(p, "rb").read()
                out[name] = [hashlib.sha256(data).hexdigest(), os.access(p, os.X_OK)]
    return out

found = listing()
with open("outputs/listing.json", "w") as f:
    json.dump({"files": found, "inode": os.stat("keep.txt").st_ino}, f)
mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "mess":
    st = os.stat("a.txt")
    with open("a.txt", "r+b") as f:
        f.write(b"X" * st.st_size)  # same size, other content ...
    os.utime("a.txt", ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and the old mtime
    os.remove("sub/b.txt")
    with open("new.txt", "w") as f:
        f.write("added")
    os.makedirs("newdir/deeper")
    with open("newdir/deeper/x", "w") as f:
        f.write("x")
    os.chmod("run.sh", 0o644)
    os.symlink("/etc", "sub/etc")
    with open("sub/c.txt", "a") as f:
        f.write("more")
    with open("outputs/first.txt", "w") as f:
        f.write("first run's output")
    with open("logs/first.log", "w") as f:
        f.write("first run's log")
if mode == "race":
    sync, me = sys.argv[2], os.environ["AML_RUN_ID"]

    def both(stage):
        open(os.path.join(sync, f"{stage}-{me}"), "w").close()
        deadline = time.time() + 60
        while len([n for n in os.listdir(sync) if n.startswith(stage)]) < 2:
            assert time.time() < deadline, "the other run never came"
            time.sleep(0.02)

    both("started")
    with open("a.txt", "w") as f:
        f.write(me)
    both("written")
    with open("outputs/mine.txt", "w") as f:
        f.write(open("a.txt").read())
"""


@pytest.fixture(autouse=True)
def cache_small_trees(monkeypatch: pytest.MonkeyPatch) -> None:
    """These projects have a handful of files: cache their trees all the same (by default a
    snapshot of fewer than MIN_FILES files is copied fresh), in every run's supervisor too."""
    monkeypatch.setenv("AML_WORKTREE_CACHE_MIN_FILES", "0")


def make_project(project: Path) -> None:
    write(project, "train.py", SCRIPT)
    write(project, "a.txt", "alpha " * 10)
    write(project, "keep.txt", "never touched")
    write(project, "sub/b.txt", "beta")
    write(project, "sub/c.txt", "gamma")
    write(project, "run.sh", "#!/bin/sh\necho hi\n").chmod(0o755)


def expected_listing(ws: Workspace, snapshot_id: str) -> dict[str, list[object]]:
    """What a working folder holding exactly the snapshot lists."""
    return {
        e.name: [hashlib.sha256(ws.blobs.read_bytes(e.sha256)).hexdigest(), e.executable]
        for e in load_snapshot(ws.blobs, snapshot_id).files
    }


def run_file(ws: Workspace, run: Run, name: str) -> bytes:
    files = {f.name: f.sha256 for f in ws.store.list_files(run.id)}
    return ws.blobs.read_bytes(files[name])


def listing_of(ws: Workspace, run: Run) -> dict[str, object]:
    return json.loads(run_file(ws, run, "outputs/listing.json"))


def file_names(ws: Workspace, run: Run) -> set[str]:
    return {f.name for f in ws.store.list_files(run.id)}


def supervisor_log(run: Run) -> str:
    return (run.folder / "system_logs" / "supervisor.log").read_text()


def test_second_run_reuses_the_tree_and_sees_exactly_the_snapshot(
    ws: Workspace, exp: Experiment, project: Path
) -> None:
    make_project(project)
    first = exp.submit(ScriptRunConfig(project, "train.py", arguments=["mess"]))
    first.wait_for_completion(raise_on_error=True)
    second = exp.submit(ScriptRunConfig(project, "train.py"))
    second.wait_for_completion(raise_on_error=True)
    assert first.get_snapshot_id() == second.get_snapshot_id()
    expected = expected_listing(ws, str(second.get_snapshot_id()))
    assert listing_of(ws, first)["files"] == expected
    # The first script rewrote a.txt (same size, old mtime), deleted, added, linked and
    # chmodded: the second sees the snapshot again, not what the first left.
    assert listing_of(ws, second)["files"] == expected
    assert "reused the cached tree" in supervisor_log(second)
    assert listing_of(ws, second)["inode"] == listing_of(ws, first)["inode"]  # not copied again
    # Each run keeps its own ./outputs and ./logs.
    assert {"outputs/first.txt", "logs/first.log"} <= file_names(ws, first)
    assert not {"outputs/first.txt", "logs/first.log"} & file_names(ws, second)
    # The tree went back to the cache; a ./logs with files stays for TensorBoard, as before.
    assert os.listdir(first.folder / "work") == ["logs"]
    assert not (second.folder / "work").exists()


def test_two_runs_of_one_snapshot_at_once_get_a_tree_each(
    ws: Workspace, exp: Experiment, project: Path, tmp_path: Path
) -> None:
    make_project(project)
    exp.submit(ScriptRunConfig(project, "train.py")).wait_for_completion(raise_on_error=True)
    sync = tmp_path / "sync"
    sync.mkdir()
    config = ScriptRunConfig(project, "train.py", arguments=["race", str(sync)])
    runs = [exp.submit(config), exp.submit(config)]
    for run in runs:
        run.wait_for_completion(raise_on_error=True)
    expected = expected_listing(ws, str(runs[0].get_snapshot_id()))
    for run in runs:
        assert listing_of(ws, run)["files"] == expected
        # Both wrote a.txt before either read it back: each read its own.
        assert run_file(ws, run, "outputs/mine.txt").decode() == run.id
    logs = [supervisor_log(run) for run in runs]
    assert sum("reused the cached tree" in log for log in logs) == 1
    assert sum("copied fresh" in log for log in logs) == 1
    after = exp.submit(ScriptRunConfig(project, "train.py"))
    after.wait_for_completion(raise_on_error=True)
    assert listing_of(ws, after)["files"] == expected


def test_a_script_cannot_change_a_stored_blob(
    ws: Workspace, exp: Experiment, project: Path
) -> None:
    make_project(project)
    write(
        project,
        "train.py",
        "open('a.txt', 'w').write('changed')\nopen('keep.txt', 'a').write('!')\n",
    )
    for _ in range(2):  # a fresh copy, then the cached tree
        exp.submit(ScriptRunConfig(project, "train.py")).wait_for_completion(raise_on_error=True)
    snapshot = take_snapshot(ws.store, project)
    for entry in snapshot.files:
        blob = ws.blobs.path(entry.sha256)
        assert hashlib.sha256(blob.read_bytes()).hexdigest() == entry.sha256
        assert blob.stat().st_nlink == 1  # no link from any working folder into the store
    a = next(e for e in snapshot.files if e.name == "a.txt")
    assert ws.blobs.read_bytes(a.sha256) == (project / "a.txt").read_bytes()


@pytest.fixture
def trees(ws: Workspace) -> WorkTrees:
    return WorkTrees(ws.folder / FOLDER, ws.blobs, max_trees=4, max_bytes=1 << 20)


def folder_content(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() or p.is_symlink()
    }


def project_content(ws: Workspace, snapshot_id: str) -> dict[str, bytes]:
    return {
        e.name: ws.blobs.read_bytes(e.sha256) for e in load_snapshot(ws.blobs, snapshot_id).files
    }


def cached(ws: Workspace, project: Path, trees: WorkTrees, work: Path) -> str:
    """A snapshot of ``project`` with a tree in the cache (leased once and given back)."""
    snapshot_id = take_snapshot(ws.store, project).id
    trees.lease(snapshot_id, work).give_back()
    assert (trees.root / snapshot_id / STATE).is_file()
    return snapshot_id


def test_a_killed_refresh_leaves_nothing_that_is_reused(
    ws: Workspace, project: Path, tmp_path: Path, trees: WorkTrees
) -> None:
    make_project(project)
    sid = cached(ws, project, trees, tmp_path / "w0")
    # What a lease killed mid-refresh leaves: the entry renamed away, half its files fixed.
    killed = trees.root / ".leased-4242-deadbeef"
    os.rename(trees.root / sid, killed)
    (killed / TREE / "sub" / "b.txt").unlink()
    lease = trees.lease(sid, tmp_path / "w1")
    assert lease.reused_from is None  # nothing of the killed lease is trusted
    assert folder_content(tmp_path / "w1") == project_content(ws, sid)
    lease.give_back()
    # What a give-back killed before its state was written: never published, then swept.
    incoming = trees.root / ".incoming-4242-deadbeef"
    (incoming / TREE).mkdir(parents=True)
    old = time.time() - STALE_S - 10
    for leftover in (killed, incoming):
        os.utime(leftover, (old, old))
    trees.evict()
    assert not killed.exists() and not incoming.exists()
    assert (trees.root / sid / STATE).is_file()


@pytest.mark.parametrize("damage", ["missing", "torn", "other snapshot's"])
def test_a_cached_tree_without_a_whole_state_is_not_reused(
    ws: Workspace, project: Path, tmp_path: Path, trees: WorkTrees, damage: str
) -> None:
    make_project(project)
    sid = cached(ws, project, trees, tmp_path / "w0")
    state = trees.root / sid / STATE
    (trees.root / sid / TREE / "a.txt").write_text("left by a killed refresh")
    if damage == "missing":
        state.unlink()
    elif damage == "torn":
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    else:
        header, body = state.read_text().splitlines()
        state.write_text(json.dumps({**json.loads(header), "snapshot": "0" * 64}) + "\n" + body)
    lease = trees.lease(sid, tmp_path / "w1")
    assert lease.reused_from is None
    assert folder_content(tmp_path / "w1") == project_content(ws, sid)


def test_a_cached_file_changed_with_its_old_mtime_is_copied_again(
    ws: Workspace, project: Path, tmp_path: Path, trees: WorkTrees
) -> None:
    make_project(project)
    sid = cached(ws, project, trees, tmp_path / "w0")
    cached_file = trees.root / sid / TREE / "a.txt"
    st = cached_file.stat()
    cached_file.write_bytes(b"Z" * st.st_size)
    os.utime(cached_file, ns=(st.st_atime_ns, st.st_mtime_ns))
    lease = trees.lease(sid, tmp_path / "w1")
    assert lease.reused_from == sid and lease.copied >= 1
    assert folder_content(tmp_path / "w1") == project_content(ws, sid)


def test_after_an_edit_the_tree_of_the_run_before_is_refreshed(
    ws: Workspace, project: Path, tmp_path: Path, trees: WorkTrees
) -> None:
    make_project(project)
    for i in range(30):
        write(project, f"data/f{i}.txt", f"file {i}")
    before = take_snapshot(ws.store, project).id
    trees.lease(before, tmp_path / "w0", family=str(project)).give_back()
    write(project, "sub/b.txt", "beta, edited")
    after = take_snapshot(ws.store, project).id
    lease = trees.lease(after, tmp_path / "w1", family=str(project))
    assert lease.reused_from == before
    assert lease.copied == 1  # the edited file, not all 35
    assert folder_content(tmp_path / "w1") == project_content(ws, after)


def test_the_cache_keeps_the_most_recent_trees_within_its_limits(
    ws: Workspace, project: Path, tmp_path: Path
) -> None:
    trees = WorkTrees(ws.folder / FOLDER, ws.blobs, max_trees=2, max_bytes=1 << 20)
    ids = []
    for i in range(3):
        write(project, "v.txt", f"version {i}")
        ids.append(cached(ws, project, trees, tmp_path / f"w{i}"))
        if i < 2:  # given back long ago, the first longest
            old = time.time() - 100 + 50 * i
            os.utime(trees.root / ids[-1] / STATE, (old, old))
    assert sorted(p.name for p in trees.root.iterdir()) == sorted(ids[1:])
    small = WorkTrees(ws.folder / FOLDER, ws.blobs, max_trees=9, max_bytes=1)
    small.evict()
    assert list(small.root.iterdir()) == []
    off = WorkTrees(ws.folder / FOLDER, ws.blobs, max_trees=0)
    lease = off.lease(ids[0], tmp_path / "off")
    assert not lease.give_back() and (tmp_path / "off" / "v.txt").read_text() == "version 0"


def test_a_snapshot_of_a_few_files_is_copied_fresh_and_not_cached(
    ws: Workspace, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AML_WORKTREE_CACHE_MIN_FILES")
    write(project, "v.txt", "small")
    snapshot = take_snapshot(ws.store, project).id
    trees = WorkTrees(ws.folder / FOLDER, ws.blobs)
    assert trees.min_files == MIN_FILES > 1
    lease = trees.lease(snapshot, tmp_path / "w")
    assert (tmp_path / "w" / "v.txt").read_text() == "small"
    assert "copied fresh" in lease.describe()
    assert not lease.give_back()
    assert not (trees.root.is_dir() and list(trees.root.iterdir()))  # nothing was cached
    for i in range(MIN_FILES):
        write(project, f"f{i}.txt", str(i))
    bigger = take_snapshot(ws.store, project).id
    lease = trees.lease(bigger, tmp_path / "w2")
    assert lease.give_back() and [p.name for p in trees.root.iterdir()] == [bigger]


@given(st.text(alphabet=st.sampled_from(list("ab./\\: \x00é")), max_size=12))
def test_entry_names_are_checked_as_checked_relative_name_does(name: str) -> None:
    try:
        expected: str | None = checked_relative_name(name, "snapshot entry")
    except AmlError:
        expected = None
    try:
        got: str | None = entry_name(name)
    except AmlError:
        got = None
    assert got == expected

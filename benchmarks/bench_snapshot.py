"""Snapshot cost of a 2,000-file source folder, first time and re-submitted unchanged.

Setup: a folder of 2,000 small files (1-10 KB of text each, ~11 MB, in a few subfolders,
one of them ``train.py``); the workspace lives outside it.

Measured:

* ``aml_jupyter.snapshot.snapshot.take_snapshot(ws.store, folder)`` the first time (a fresh workspace each
  time: every file hashed and copied into the blob store), median of FIRST_REPS;
* the same again with nothing changed (median/p90 of REPS): the stat cache should make this
  a directory walk, storing no new blob (counted);
* again after editing one file (median of EDIT_REPS; 1 file + 1 manifest are new);
* the whole ``experiment.submit(ScriptRunConfig(folder, 'train.py'))`` call for the unchanged
  folder (median/p90 of REPS; each run is waited for, untimed, before the next);
* submit -> Running (``started_utc`` minus the moment ``submit`` returned): the supervisor's
  start-up plus getting the working folder ready, for the unchanged folder (the cached tree
  of the last run, checked and refreshed: :mod:`aml_jupyter.snapshot.worktree`), after
  editing one file (the tree of the run before, one file refreshed), with the cache off
  (``AML_WORKTREE_CACHE_TREES=0``: every file copied out of the store, as before the cache),
  and for a one-file folder (the floor: supervisor start-up alone);
* what a user would otherwise do to run in a clean folder: ``shutil.copytree`` and
  ``cp -r`` of the 2,000 files;
* zipping the folder with ``zipfile`` (ZIP_DEFLATED), which Azure ML v1 does on each submit.

When this environment sets ``PYTHONDONTWRITEBYTECODE``, the submits run with a bytecode cache
in a temp folder (``PYTHONPYCACHEPREFIX``), as a normal install has (as ``bench_submit.py``).
Goals: re-submit (unchanged) <= 0.3 s; unchanged 2,000-file folder submit -> Running
<= 150 ms. Run: ``.venv/bin/python benchmarks/bench_snapshot.py``.
"""

from __future__ import annotations

import base64
import os
import random
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    clean_environment,
    fmt_ms,
    header,
    median,
    percentile,
    print_table,
    temp_folder,
    verdict,
)

N_FILES = 2_000  # the default snapshot file limit: the largest folder a submit takes as is
SUBFOLDERS = ["", "src", "src/models", "src/utils", "configs", "data/samples", "notebooks", "tests"]
FIRST_REPS = 3
REPS = 10
EDIT_REPS = 5
ZIP_REPS = 5
GOAL_S = 0.3
RUNNING_GOAL_S = 0.150
TRAIN = "import time\nprint('training')\n"


def make_folder(root: Path, seed: int = 11) -> int:
    """Write N_FILES files (train.py included); returns the total bytes."""
    rng = random.Random(seed)
    root.mkdir(parents=True)
    for sub in SUBFOLDERS:
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "train.py").write_text(TRAIN)
    total = len(TRAIN)
    for i in range(N_FILES - 1):
        sub = SUBFOLDERS[i % len(SUBFOLDERS)]
        size = rng.randint(1_000, 10_000)
        # base64 text: compresses like source/config files do (somewhat), never dedupes.
        data = base64.b64encode(rng.randbytes(size * 3 // 4 + 1))[:size]
        (root / sub / f"file_{i:04d}.{'py' if i % 3 else 'json'}").write_bytes(data)
        total += size
    return total


def count_blobs(ws) -> int:
    """Blob files in the workspace's store."""
    root = ws.blobs.root
    if not root.exists():
        return 0
    return sum(
        1 for d in root.iterdir() if d.is_dir() for f in d.iterdir() if not f.name.startswith(".")
    )


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def zip_folder(folder: Path, target: Path) -> None:
    """What an Azure ML v1 submit does with the source folder: one zip of everything."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for dirpath, _, filenames in os.walk(folder):
            for name in filenames:
                full = os.path.join(dirpath, name)
                zf.write(full, os.path.relpath(full, folder))


def main() -> None:
    clean_environment()
    header("bench_snapshot", f"snapshot of a {N_FILES:,}-file folder, first time and unchanged")
    from aml_jupyter import Experiment, ScriptRunConfig, Workspace
    from aml_jupyter.snapshot.snapshot import take_snapshot

    with temp_folder("snapshot") as tmp:
        folder = tmp / "project"
        total_bytes = make_folder(folder)

        # First snapshot: a fresh workspace each time, so nothing is cached or stored yet.
        first = []
        for i in range(FIRST_REPS):
            ws_i = Workspace.create(tmp / f"ws-first-{i}")
            first.append(timed(lambda ws_i=ws_i: take_snapshot(ws_i.store, folder)))
        first_blobs = count_blobs(ws_i)

        ws = Workspace.create(tmp / "ws")
        snap = take_snapshot(ws.store, folder)
        assert len(snap.files) == N_FILES, len(snap.files)
        before = count_blobs(ws)
        unchanged = [timed(lambda: take_snapshot(ws.store, folder)) for _ in range(REPS)]
        new_blobs_unchanged = count_blobs(ws) - before
        ids = {take_snapshot(ws.store, folder).id for _ in range(2)}

        edited, edit_new = [], []
        files = sorted(p for p in folder.rglob("file_*"))
        for i in range(EDIT_REPS):
            path = files[i * 97]
            path.write_bytes(path.read_bytes() + f"\n# edit {i}\n".encode())
            n0 = count_blobs(ws)
            edited.append(timed(lambda: take_snapshot(ws.store, folder)))
            edit_new.append(count_blobs(ws) - n0)

        exp = Experiment(ws, "snapshot-bench")
        cfg = ScriptRunConfig(str(folder), "train.py")
        no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
        saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        if no_bytecode:  # supervisors get a bytecode cache, as a normal install has
            os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
            os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        try:
            exp.submit(cfg).wait_for_completion()  # warm-up: bytecode and a cached tree
            n0 = count_blobs(ws)
            submits, to_running, unchanged_call = submit_runs(ws, exp, cfg, REPS)
            # No snapshot file is new; the runs' driver logs are identical, so they dedupe too.
            new_blobs_submit = count_blobs(ws) - n0
            edited_running: tuple[list[float], list[float], list[float]] = ([], [], [])
            for i in range(EDIT_REPS):
                path = files[i * 89 + 3]
                path.write_bytes(path.read_bytes() + f"\n# run edit {i}\n".encode())
                for acc, got in zip(edited_running, submit_runs(ws, exp, cfg, 1), strict=True):
                    acc += got
            os.environ["AML_WORKTREE_CACHE_TREES"] = "0"
            fresh_running = submit_runs(ws, exp, cfg, REPS)
            del os.environ["AML_WORKTREE_CACHE_TREES"]
            small = tmp / "one-file"
            small.mkdir()
            (small / "train.py").write_text(TRAIN)
            small_cfg = ScriptRunConfig(str(small), "train.py")
            exp.submit(small_cfg).wait_for_completion()
            floor_running = submit_runs(ws, exp, small_cfg, REPS)
        finally:
            os.environ.pop("AML_WORKTREE_CACHE_TREES", None)
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        leases, restores = in_process_folders(ws, take_snapshot(ws.store, folder).id, tmp)
        copies = []
        for i in range(REPS):
            copies.append(timed(lambda i=i: shutil.copytree(folder, tmp / f"copytree-{i}")))
        cp_r = []
        for i in range(REPS):
            dest = tmp / f"cp-r-{i}"
            cp_r.append(
                timed(lambda dest=dest: subprocess.run(["cp", "-r", folder, dest], check=True))
            )

        zips = []
        for i in range(ZIP_REPS):
            target = tmp / f"snapshot-{i}.zip"
            zips.append(timed(lambda target=target: zip_folder(folder, target)))
        zip_size = (tmp / "snapshot-0.zip").stat().st_size

    goal = f"<= {GOAL_S:g} s"
    rows = [
        [
            "first snapshot (hash + store every file)",
            FIRST_REPS,
            fmt_ms(median(first)),
            fmt_ms(max(first)),
            f"{first_blobs:,} blobs stored",
            "",
            "",
        ],
        [
            "re-snapshot, folder unchanged",
            REPS,
            fmt_ms(median(unchanged)),
            fmt_ms(percentile(unchanged, 90)),
            f"{new_blobs_unchanged} new blobs",
            goal,
            verdict(median(unchanged), GOAL_S),
        ],
        [
            "experiment.submit(...) call, folder unchanged",
            REPS,
            fmt_ms(median(submits)),
            fmt_ms(percentile(submits, 90)),
            f"{new_blobs_submit} new blobs",
            goal,
            verdict(median(submits), GOAL_S),
        ],
        [
            "re-snapshot after editing 1 file",
            EDIT_REPS,
            fmt_ms(median(edited)),
            fmt_ms(max(edited)),
            f"{median(edit_new):.0f} new blobs (file + manifest)",
            "",
            "",
        ],
        [
            "zipfile ZIP_DEFLATED of the folder (v1's per-submit zip)",
            ZIP_REPS,
            fmt_ms(median(zips)),
            fmt_ms(max(zips)),
            f"{zip_size / 1e6:.1f} MB zip",
            "",
            f"aml unchanged {median(zips) / median(unchanged):.0f}x faster",
        ],
    ]
    print_table(
        f"Snapshot of {N_FILES:,} files ({total_bytes / 1e6:.1f} MB, {len(SUBFOLDERS)} folders)",
        ["measure", "n", "median", "p90/max", "stored", "goal", "meets goal / vs zip"],
        rows,
    )
    bytecode = " (bytecode cached)" if no_bytecode else ""
    running_goal = f"<= {RUNNING_GOAL_S * 1000:.0f} ms"

    def row(label: str, times: list[float], call: list[float] | None, goal: bool) -> list[object]:
        return [
            label,
            len(times),
            fmt_ms(median(times)),
            fmt_ms(percentile(times, 90)),
            fmt_ms(median(call)) if call else "",
            running_goal if goal else "",
            verdict(median(times), RUNNING_GOAL_S) if goal else "",
        ]

    print_table(
        f"Submit -> Running{bytecode}: the supervisor starts (while the submit snapshots) and "
        f"gets the working folder ready; beside copying the {N_FILES:,} files by hand",
        ["measure", "n", "median", "p90", "from the submit call", "goal", "meets goal"],
        [
            row(
                f"unchanged {N_FILES:,}-file folder: submit -> Running (cached tree)",
                to_running,
                unchanged_call,
                True,
            ),
            row("  after editing 1 file (the tree of the run before)", *edited_running[1:], False),
            row(
                "  cache off: every file copied from the store (as before)",
                *fresh_running[1:],
                False,
            ),
            row(
                "  a one-file folder (the submit returns before the supervisor is up)",
                *floor_running[1:],
                False,
            ),
            row("in-process: lease of the cached tree (check + refresh)", leases, None, False),
            row(
                "in-process: restore_snapshot (copy every file from the store)",
                restores,
                None,
                False,
            ),
            row(f"by hand: shutil.copytree of the {N_FILES:,} files", copies, None, False),
            row(f"by hand: cp -r of the {N_FILES:,} files", cp_r, None, False),
        ],
    )
    print(
        f"Unchanged re-snapshots gave {len(ids)} snapshot id(s) (1 expected: same content, same id)."
    )
    print(
        f"Goal: re-submit of an unchanged folder <= {GOAL_S:g} s. take_snapshot: "
        f"{fmt_ms(median(unchanged))}, experiment.submit: {fmt_ms(median(submits))} "
        f"({'met' if max(median(unchanged), median(submits)) <= GOAL_S else 'NOT met'})."
    )
    print(
        f"Goal: unchanged {N_FILES:,}-file folder submit -> Running <= "
        f"{RUNNING_GOAL_S * 1000:.0f} ms: {fmt_ms(median(to_running))} median, "
        f"{fmt_ms(percentile(to_running, 90))} p90 "
        f"({'met' if median(to_running) <= RUNNING_GOAL_S else 'NOT met'}; with the cache off "
        f"{fmt_ms(median(fresh_running[1]))}; cp -r {fmt_ms(median(cp_r))})."
    )


def submit_runs(ws, exp, cfg, reps: int) -> tuple[list[float], list[float], list[float]]:
    """``reps`` submits, each waited for (untimed): the submit calls, submit returned ->
    Running, and submit called -> Running."""
    submits, after, from_call = [], [], []
    for _ in range(reps):
        t0 = time.time()
        run = exp.submit(cfg)
        t_ret = time.time()
        submits.append(t_ret - t0)
        run.wait_for_completion()
        started = ws.store.get_run(run.id).started_utc
        after.append(started - t_ret)
        from_call.append(started - t0)
    return submits, after, from_call


def in_process_folders(ws, snapshot_id: str, tmp: Path) -> tuple[list[float], list[float]]:
    """The working-folder step alone, in this process: leasing the cached tree of the last
    run (checked, refreshed, given back each time) and copying every file out of the store."""
    from aml_jupyter.snapshot.snapshot import restore_snapshot
    from aml_jupyter.snapshot.worktree import FOLDER, WorkTrees

    trees = WorkTrees(ws.folder / FOLDER, ws.blobs)
    leases, restores = [], []
    for i in range(REPS):
        work = tmp / f"lease-{i}"
        t0 = time.perf_counter()
        lease = trees.lease(snapshot_id, work)
        leases.append(time.perf_counter() - t0)
        lease.give_back()
        restores.append(timed(lambda i=i: restore_snapshot(ws.blobs, snapshot_id, tmp / f"r{i}")))
    return leases, restores


if __name__ == "__main__":
    main()

"""Ending a run, the same way for every kind: harvest its files, summarize metrics, set status."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..run_files import TRACKED_FOLDERS, USER_LOGS
from ..status import RunStatus
from ..store.metrics import read_points, summarize

if TYPE_CHECKING:
    from ..workspace import Workspace


def harvest_folder(ws: Workspace, run_id: str, folder: Path, prefix: str, move: bool) -> None:
    """Store every file under ``folder`` as run file ``prefix/<relative path>``.

    ``move=True`` moves the files into the blob store (the run's working folder is ours);
    otherwise they are copied (a user's ``./outputs`` in a notebook stays where it is).
    """
    rows = []
    for dirpath, _, filenames in os.walk(folder):
        for f in sorted(filenames):
            full = Path(dirpath) / f
            if full.is_symlink() or not full.is_file():
                continue
            name = f"{prefix}/{full.relative_to(folder).as_posix()}"
            sha, size = ws.blobs.adopt_file(full) if move else ws.blobs.put_file(full)
            rows.append((name, sha, size))
    ws.records.add_files(run_id, rows)


def finalize_run(
    ws: Workspace,
    run_id: str,
    status: str,
    *,
    error: dict[str, Any] | None = None,
    exit_code: int | None = None,
    outputs_dir: Path | None = None,
) -> None:
    """Harvest ``./outputs``/``./logs``, keep the driver log and metric summary, then end the run.

    Does nothing if the run has already ended. Active children end with the same status.
    """
    records = ws.records
    row = records.get_run(run_id)
    if row["status"] in RunStatus.TERMINAL:
        return
    records.set_status(run_id, RunStatus.FINALIZING)
    run_dir = ws.run_dir(run_id)
    work = run_dir / "work"
    for sub in TRACKED_FOLDERS:
        if (work / sub).is_dir():
            # ./logs is copied, not moved: a TensorBoard watching it keeps its folder.
            harvest_folder(ws, run_id, work / sub, sub, move=sub != "logs")
    if outputs_dir is not None and outputs_dir.is_dir():
        harvest_folder(ws, run_id, outputs_dir, "outputs", move=False)
    if (run_dir / USER_LOGS).is_dir():  # the driver log, and one per process of a distributed job
        harvest_folder(ws, run_id, run_dir / USER_LOGS, USER_LOGS, move=False)
    records.save_metric_summary(run_id, summarize(read_points(run_dir / "metrics")))
    for child in records.list_runs(parent_id=run_id, status=RunStatus.ACTIVE):
        finalize_run(ws, child["id"], status)
    fields: dict[str, Any] = {}
    if exit_code is not None:
        fields["exit_code"] = exit_code
    if error is not None:
        fields["error"] = json.dumps(error)
    records.set_status(run_id, status, **fields)
    if work.exists():
        _remove_work_folder(work)


def _remove_work_folder(work: Path) -> None:
    """Delete a finished run's working folder, except a ``logs/`` that holds files.

    That ``logs/`` stays where it was, so TensorBoard (see :mod:`aml_jupyter.tensorboard`)
    reads the same folder before and after the run ends; its files are in the store too.
    """
    logs = work / "logs"
    if not (logs.is_dir() and any(p.is_file() for p in logs.rglob("*"))):
        shutil.rmtree(work, ignore_errors=True)
        return
    for entry in work.iterdir():
        if entry.name == "logs":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)

"""Ending a run, the same way for every kind: harvest its files, summarize metrics, set status.

Each step that can fail (a full disk, a file the script left unreadable, a link it planted) is
caught: the run still ends, Failed with the reason when something of it could not be kept,
and nothing outside the run's folder is read, moved or changed.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import utf8_name
from ..status import RunStatus
from ..store.database import is_disk_full
from ..store.run_folder import TRACKED_FOLDERS, USER_LOGS, RunFolder
from . import targets

if TYPE_CHECKING:
    from .workspace import Workspace

log = logging.getLogger(__name__)
#: At most this many skipped links are named in the driver log.
_LINKS_NAMED = 20
#: The types of submitted runs (``tracking.run.SUBMITTED_RUN_TYPES``; run imports this
#: module): a script, a pipeline, a pipeline's step.
_SUBMITTED = frozenset({"azureml.scriptrun", "azureml.PipelineRun", "azureml.StepRun"})


def harvest_folder(ws: Workspace, run_id: str, folder: Path, prefix: str, move: bool) -> list[str]:
    """Store every file under ``folder`` as run file ``prefix/<relative path>``.

    ``move=True`` moves the files into the blob store (the run's working folder is ours);
    otherwise they are copied (a user's ``./outputs`` in a notebook stays where it is). Links
    are never followed, and a file with other hard links is copied, not moved (it is not ours
    alone). Returns the names of the links skipped.
    """
    rows, links = [], []
    if folder.is_symlink():
        return [f"{prefix} -> {os.readlink(folder)}"]
    for dirpath, dirnames, filenames in os.walk(folder):  # os.walk never enters a linked folder
        base = Path(dirpath)
        for entry in sorted(dirnames + filenames):
            full = base / entry
            st = full.lstat()
            name = utf8_name(f"{prefix}/{full.relative_to(folder).as_posix()}")
            if stat.S_ISLNK(st.st_mode):
                links.append(name)
            elif stat.S_ISREG(st.st_mode):
                ours = move and st.st_nlink == 1
                sha, size = ws.blobs.adopt_file(full) if ours else ws.blobs.put_file(full)
                rows.append((name, sha, size))
    ws.store.add_files(run_id, rows)
    return links


def _note(folder: RunFolder, text: str) -> None:
    """A line for whoever reads the driver log; never fails the run."""
    try:
        # A remote run whose script printed nothing has no mirrored driver log here yet.
        folder.driver_log.parent.mkdir(parents=True, exist_ok=True)
        with open(folder.driver_log, "a") as f:
            f.write(f"[aml] {text}\n")
    except OSError:
        pass


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

    Does nothing if the run has already ended. Active children end with the same status
    (submitted ones go on, or are canceled with it). A step that fails does not stop the
    others; the run then ends Failed with the reason.
    """
    records = ws.store
    row = records.get_run(run_id)
    if row.status in RunStatus.TERMINAL:
        return
    records.set_status(run_id, RunStatus.FINALIZING)
    folder = records.run_folder(run_id)
    work = folder.work
    problems: list[str] = []
    disk_full = False

    def step(what: str, action: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal disk_full
        try:
            return action(*args, **kwargs)
        except Exception as exc:
            log.exception("finalizing %s: %s failed", run_id, what)
            if is_disk_full(exc) and not disk_full:
                disk_full = True
                folder.space_reserve.unlink(missing_ok=True)  # room to record the end
            problems.append(f"{what}: {exc}")
            return None

    definition = row.definition or {}
    if definition.get("inputDatasets") or definition.get("outputDatasets"):
        # First, so the driver log kept below says what happened: outputs uploaded (a
        # completed run only, as v1), the mounts and downloads removed.
        notes = step(
            "keeping the output datasets", _finish_datasets, ws, run_id, definition, status
        )
        for line in notes or []:
            _note(folder, line)
    links: list[str] = []
    for sub in TRACKED_FOLDERS:
        if (work / sub).is_dir() or (work / sub).is_symlink():
            # ./logs is copied, not moved: a TensorBoard watching it keeps its folder.
            found = step(
                f"keeping ./{sub}", harvest_folder, ws, run_id, work / sub, sub, sub != "logs"
            )
            links += found or []
    if outputs_dir is not None and outputs_dir.is_dir():
        step("keeping ./outputs", harvest_folder, ws, run_id, outputs_dir, "outputs", False)
    if links:
        shown = ", ".join(links[:_LINKS_NAMED]) + (" ..." if len(links) > _LINKS_NAMED else "")
        _note(folder, f"{len(links)} symbolic link(s) not kept (links are never followed): {shown}")
    if folder.user_logs.is_dir():  # the driver log, and one per process of a distributed job
        step("keeping the logs", harvest_folder, ws, run_id, folder.user_logs, USER_LOGS, False)
    step("summarizing metrics", records.summarize_metrics, run_id, final=True)
    for child in (
        step("listing child runs", records.list_runs, parent_id=run_id, status=RunStatus.ACTIVE)
        or []
    ):
        if child.run_type in _SUBMITTED:  # a child of its own (submit_child): it goes on,
            if status == RunStatus.CANCELED:  # unless its parent was canceled
                step(f"canceling child run {child.id}", targets.cancel, ws, child)
            continue
        step(f"ending child run {child.id}", finalize_run, ws, child.id, status)
    if problems and status != RunStatus.CANCELED:
        reason = "; ".join(problems)
        if disk_full:
            reason = f"The disk holding the workspace is full ({ws.folder}): {reason}"
        previous = f"{error['message']} Also, while finalizing: " if error else ""
        code = "DiskFull" if disk_full else (error or {}).get("code", "FinalizeFailed")
        status, error = RunStatus.FAILED, {"code": code, "message": previous + reason}
    if work.exists():  # before the end is announced: whoever waits sees the final folder
        step("removing the working folder", _remove_work_folder, work)
    records.set_status(run_id, status, error=error, exit_code=exit_code)


def _finish_datasets(
    ws: Workspace, run_id: str, definition: dict[str, Any], status: str
) -> list[str]:
    """The data layer's end of a run with datasets (a provider: data sits above tracking)."""
    from . import plugins

    return list(plugins.load("run_data.finish")(ws, run_id, definition, status))


def _remove_work_folder(work: Path) -> None:
    """Delete a finished run's working folder, except a ``logs/`` that holds files.

    That ``logs/`` stays where it was, so TensorBoard (see :mod:`aml_jupyter.frontends.tensorboard`)
    reads the same folder before and after the run ends; its files are in the store too. A
    ``logs`` that is a link is removed (the link only, never what it points at).
    """
    logs = work / "logs"
    inside = [] if logs.is_symlink() else [Path(d) / f for d, _, fs in os.walk(logs) for f in fs]
    keep = any(p.is_file() and not p.is_symlink() for p in inside)
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
        return
    for entry in work.iterdir():
        if entry.name == "logs":
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
    for d, dirs, files in os.walk(logs):
        for link in [Path(d) / n for n in dirs + files if (Path(d) / n).is_symlink()]:
            link.unlink(missing_ok=True)  # a kept logs/ must not serve links to TensorBoard either


def end_failed(ws: Workspace, run_id: str, exc: BaseException, what: str, code: str) -> None:
    """End a run Failed after the process that owns it failed with ``exc``, saying why (a full
    disk as such: the space reserve is released so the end can be recorded)."""
    full = is_disk_full(exc)
    if full:
        ws.store.run_folder(run_id).space_reserve.unlink(missing_ok=True)
    error = {
        "code": "DiskFull" if full else code,
        "message": f"The disk holding the workspace is full ({ws.folder}): {exc}"
        if full
        else f"{what}: {exc}",
    }
    try:
        finalize_run(ws, run_id, RunStatus.FAILED, error=error)
    except Exception:
        log.exception("finalizing %s after a failure", run_id)  # the status needs least room
        ws.store.set_status(run_id, RunStatus.FAILED, error=error)

"""The ``local`` target: a detached supervisor process on this machine runs the script."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...snapshot.git import git_properties
from ...snapshot.snapshot import take_snapshot
from ...status import RunStatus

if TYPE_CHECKING:
    from ...tracking.experiment import Experiment
    from ...tracking.run import Run
    from ...tracking.workspace import Workspace
    from ..config import ScriptRunConfig


def submit_local(
    experiment: Experiment, config: ScriptRunConfig, target: str, tags: dict[str, Any] | None
) -> Run:
    """Snapshot, record and start a run; returns at once (the run goes on without us).

    The supervisor process is started first and handed the run id last: its interpreter
    start-up (tens of ms) overlaps the snapshot instead of following it.
    """
    from ...environments import build as envbuild
    from ...tracking.run import Run

    ws = experiment.workspace
    definition = run_definition(ws, config)
    if definition["environment"] is not None:
        # A wrong Python or interpreter: no run at all.
        envbuild.check(ws.folder, definition["environment"])
    supervisor = start_supervisor(ws.folder)
    try:
        snapshot = take_snapshot(
            ws,
            definition["sourceDirectory"],
            extra_files=config.extra_files,
            max_bytes=config.snapshot_max_bytes,
            max_files=config.snapshot_max_files,
        )
    except BaseException:
        hand_off(supervisor, None)
        raise
    run_id = record_run(ws, experiment.name, definition, snapshot.id, target, tags, supervisor)
    # While the run starts: git state (a few git calls) is not needed by the script.
    ws.records.add_properties(run_id, git_properties(definition["sourceDirectory"]))
    return Run(experiment, run_id)


def run_definition(ws: Workspace, config: ScriptRunConfig) -> dict[str, Any]:
    """What the run record keeps and the supervisor runs: the checked config, this Python,
    and the environment's whole spec (None: this Python as it is)."""
    from ...environments.environment import resolve_environment

    definition = config.validate()
    definition["python"] = sys.executable
    environment = resolve_environment(ws, config.environment)
    definition["environment"] = None if environment is None else environment._spec()
    return definition


def record_run(
    ws: Workspace,
    experiment: str,
    definition: dict[str, Any],
    snapshot_id: str,
    target: str,
    tags: dict[str, Any] | None,
    owner: subprocess.Popen[bytes],
    run_id: str | None = None,
) -> str:
    """Record a Queued run of a stored snapshot and hand it to ``owner`` (a started supervisor
    or mirror); on any error the run is left Failed with the reason and nothing is started."""
    from ...tracking.run import SCRIPT_RUN

    records = ws.records
    try:
        run_id = records.create_run(
            experiment,
            SCRIPT_RUN,
            RunStatus.NOT_STARTED,
            run_id=run_id,
            target=target,
            definition=definition,
        )
    except BaseException:
        hand_off(owner, None)
        raise
    try:
        records.update_run(run_id, snapshot_id=snapshot_id)
        records.add_properties(
            run_id, {"ContentSnapshotId": snapshot_id, "azureml.runsource": "experiment"}
        )
        if tags:
            records.set_tags(run_id, tags)
        records.set_status(run_id, RunStatus.QUEUED)
        records.claim_owner(run_id, owner.pid)
    except BaseException as exc:
        hand_off(owner, None)
        records.set_status(
            run_id,
            RunStatus.FAILED,
            error=json.dumps({"code": "SubmitFailed", "message": str(exc)}),
        )
        raise
    hand_off(owner, run_id)
    return run_id


def hand_off(owner: subprocess.Popen[bytes], run_id: str | None) -> None:
    """Give a waiting supervisor (or mirror) its run id; ``None`` tells it to exit quietly."""
    handoff = owner.stdin
    assert handoff is not None
    try:
        if run_id is not None:
            handoff.write(f"{run_id}\n".encode())
    finally:
        handoff.close()


def start_supervisor(
    ws_folder: Path, module: str = "aml_jupyter.compute.local.supervisor"
) -> subprocess.Popen[bytes]:
    """Start a supervisor (or ``module``: a remote run's mirror) in its own session, so a
    kernel restart or Ctrl-C leaves it alone.

    It waits for a run id on its stdin; closing stdin without one makes it exit.
    """
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", module, str(ws_folder)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError as exc:
        raise AmlError(f"Could not start the run's supervisor: {exc}") from exc
    # Reap it when it ends so a long-lived kernel collects no zombies.
    threading.Thread(target=proc.wait, name="aml-reap-supervisor", daemon=True).start()
    return proc

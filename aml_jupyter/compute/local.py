"""The ``local`` target: a detached supervisor process on this machine runs the script."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..git import git_properties
from ..snapshot import take_snapshot
from ..status import RunStatus

if TYPE_CHECKING:
    from ..config import ScriptRunConfig
    from ..experiment import Experiment
    from ..run import Run


def submit_local(
    experiment: Experiment, config: ScriptRunConfig, target: str, tags: dict[str, Any] | None
) -> Run:
    """Snapshot, record and start a run; returns at once (the run goes on without us).

    The supervisor process is started first and handed the run id last: its interpreter
    start-up (tens of ms) overlaps the snapshot instead of following it.
    """
    from ..environment import resolve_environment
    from ..run import SCRIPT_RUN, Run
    from . import envbuild

    ws = experiment.workspace
    definition = config.validate()
    definition["python"] = sys.executable
    environment = resolve_environment(ws, config.environment)
    if environment is not None:
        spec = environment._spec()
        envbuild.check(ws.folder, spec)  # a wrong Python or interpreter: no run at all
        definition["environment"] = spec
    supervisor = start_supervisor(ws.folder)
    handoff = supervisor.stdin
    assert handoff is not None
    try:
        snapshot = take_snapshot(
            ws,
            definition["sourceDirectory"],
            extra_files=config.extra_files,
            max_bytes=config.snapshot_max_bytes,
            max_files=config.snapshot_max_files,
        )
        records = ws.records
        run_id = records.create_run(
            experiment.name, SCRIPT_RUN, RunStatus.NOT_STARTED, target=target, definition=definition
        )
        try:
            records.update_run(run_id, snapshot_id=snapshot.id)
            records.add_properties(
                run_id, {"ContentSnapshotId": snapshot.id, "azureml.runsource": "experiment"}
            )
            if tags:
                records.set_tags(run_id, tags)
            records.set_status(run_id, RunStatus.QUEUED)
            records.claim_owner(run_id, supervisor.pid)
        except BaseException as exc:
            records.set_status(
                run_id,
                RunStatus.FAILED,
                error=json.dumps({"code": "SubmitFailed", "message": str(exc)}),
            )
            raise
        handoff.write(f"{run_id}\n".encode())
    finally:
        handoff.close()  # without a run id on it, the supervisor exits quietly
    # While the run starts: git state (a few git calls) is not needed by the script.
    records.add_properties(run_id, git_properties(definition["sourceDirectory"]))
    return Run(experiment, run_id)


def start_supervisor(ws_folder: Path) -> subprocess.Popen[bytes]:
    """Start a supervisor in its own session (a kernel restart or Ctrl-C leaves it alone).

    It waits for a run id on its stdin; closing stdin without one makes it exit.
    """
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aml_jupyter.compute.supervisor", str(ws_folder)],
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

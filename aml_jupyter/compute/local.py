"""The ``local`` target: a detached supervisor process on this machine runs the script."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
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
    """Snapshot, record and start a run; returns at once (the run goes on without us)."""
    from ..run import SCRIPT_RUN, Run

    ws = experiment.workspace
    definition = config.validate()
    definition["python"] = sys.executable
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
        props = {"ContentSnapshotId": snapshot.id, "azureml.runsource": "experiment"}
        props.update(git_properties(definition["sourceDirectory"]))
        records.add_properties(run_id, props)
        if tags:
            records.set_tags(run_id, tags)
        records.set_status(run_id, RunStatus.QUEUED)
        start_supervisor(ws.folder, ws.run_dir(run_id), run_id, records)
    except BaseException as exc:
        records.set_status(
            run_id,
            RunStatus.FAILED,
            error=json.dumps({"code": "SubmitFailed", "message": str(exc)}),
        )
        raise
    return Run(experiment, run_id)


def start_supervisor(ws_folder: Any, run_dir: Any, run_id: str, records: Any) -> None:
    """Start the supervisor in its own session, so a kernel restart or Ctrl-C leaves it alone."""
    (run_dir / "system_logs").mkdir(parents=True, exist_ok=True)
    with open(run_dir / "system_logs" / "supervisor.log", "ab") as log:
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "aml_jupyter.compute.supervisor", str(ws_folder), run_id],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise AmlError(f"Could not start the run's supervisor: {exc}") from exc
    records.claim_owner(run_id, proc.pid)
    # Reap it when it ends so a long-lived kernel collects no zombies.
    threading.Thread(target=proc.wait, name=f"aml-reap-{run_id}", daemon=True).start()

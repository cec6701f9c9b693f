"""Submitting a run, the same way on every target: validate → snapshot → record → start.

1. The config is checked against the disk and becomes the run definition (this Python, the
   environment's whole spec); the target refuses what it cannot run (``target._check``),
   before anything is started.
2. The process that will own the run here starts at once — the supervisor of a local run, the
   mirror of a remote one — and waits for its run id: its interpreter start-up overlaps the
   snapshot instead of following it.
3. The source folder is snapshotted (content-addressed: an unchanged folder costs little);
   the target takes it where the run executes (``target._prepare``: an upload, a package) and
   starts the run there (``target._start``; local runs start when their supervisor gets the id).
4. The run is recorded (``NotStarted`` → ``Queued``, tags, the snapshot, its parent) and its
   owner gets the run id; git state is added while the run starts.

A failure before the record leaves no run and tells the owner to exit; one while recording
leaves the run Failed with the reason.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from ..snapshot.git import git_properties
from ..snapshot.snapshot import load_snapshot, take_snapshot
from ..status import RunStatus
from ..store.run_records import new_run_id
from .local.owner import claim_owner
from .local.run_data import data_arguments, has_data
from .local.target import hand_off, start_supervisor

if TYPE_CHECKING:
    import subprocess

    from ..tracking.experiment import Experiment
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace
    from . import ComputeTarget
    from .config import ScriptRunConfig


def submit(
    target: ComputeTarget,
    experiment: Experiment,
    config: ScriptRunConfig,
    tags: dict[str, Any] | None = None,
    parent_id: str | None = None,
    *,
    run_id: str | None = None,
    snapshot_id: str | None = None,
    run_type: str | None = None,
    display_name: str | None = None,
) -> Run:
    """Start ``config`` as a new run of ``experiment`` on ``target`` (a child of
    ``parent_id`` when given); returns at once, the run goes on without us.

    A workflow that builds runs (a pipeline's steps) may fix the run's id beforehand, run a
    snapshot it took earlier (``snapshot_id``: the code as it was when the pipeline was
    submitted) and give the run its own type (``azureml.StepRun``) and name."""
    from ..tracking.run import Run

    ws = experiment.workspace
    definition = run_definition(ws, config)
    target._check(definition)
    owner = start_supervisor(ws.folder, module=target._owner_module)
    try:
        if snapshot_id is not None:
            snapshot = load_snapshot(ws.blobs, snapshot_id)
        else:
            snapshot = take_snapshot(
                ws.store,
                definition["sourceDirectory"],
                extra_files=config.extra_files,
                max_bytes=config.snapshot_max_bytes,
                max_files=config.snapshot_max_files,
            )
        target._prepare(snapshot, definition)
        run_id = run_id or new_run_id(experiment.name)
        target._start(run_id, experiment.name, snapshot, definition, tags)
    except BaseException:
        hand_off(owner, None)
        raise
    record_run(
        ws,
        experiment.name,
        definition,
        snapshot.id,
        target.name,
        tags,
        owner,
        run_id,
        parent_id,
        run_type=run_type,
        display_name=display_name,
    )
    # While the run starts: git state (a few git calls) is not needed by the script.
    ws.store.add_properties(run_id, git_properties(definition["sourceDirectory"]))
    return Run(experiment, run_id)


def run_definition(ws: Workspace, config: ScriptRunConfig) -> dict[str, Any]:
    """What the run record keeps and the supervisor runs: the checked config, this Python,
    and the environment's whole spec (None: this Python as it is)."""
    definition = config.validate()
    if config._inputs or any(has_data(a) for a in config.arguments):
        # Datasets in the arguments: placeholders, their specs recorded (see .local.run_data).
        arguments, inputs, outputs = data_arguments(ws, config.arguments, config._inputs)
        definition.update(
            arguments=arguments, inputDatasets=inputs or None, outputDatasets=outputs or None
        )
    definition["python"] = sys.executable
    environment = config.run_config._submission_environment(ws)
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
    parent_id: str | None = None,
    run_type: str | None = None,
    display_name: str | None = None,
) -> str:
    """Record a Queued run of a stored snapshot and hand it to ``owner`` (a started supervisor
    or mirror); on any error the run is left Failed with the reason and nothing is started."""
    from ..tracking.run import SCRIPT_RUN

    store = ws.store
    try:
        run_id = store.create_run(
            experiment,
            run_type or SCRIPT_RUN,
            RunStatus.NOT_STARTED,
            run_id=run_id,
            parent_id=parent_id,
            target=target,
            definition=definition,
            display_name=display_name,
        )
    except BaseException:
        hand_off(owner, None)
        raise
    try:
        store.update_run(run_id, snapshot_id=snapshot_id)
        inputs = definition.get("inputDatasets") or []
        if inputs:  # lineage: which dataset versions the run reads
            store.add_run_datasets(run_id, "input", {s["name"]: s["datasetId"] for s in inputs})
        store.add_properties(
            run_id, {"ContentSnapshotId": snapshot_id, "azureml.runsource": "experiment"}
        )
        if tags:
            store.set_tags(run_id, tags)
        store.set_status(run_id, RunStatus.QUEUED)
        claim_owner(ws, run_id, owner.pid)
    except BaseException as exc:
        hand_off(owner, None)
        store.set_status(
            run_id, RunStatus.FAILED, error={"code": "SubmitFailed", "message": str(exc)}
        )
        raise
    hand_off(owner, run_id)
    return run_id

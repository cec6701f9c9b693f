"""Which run is "this" run: ``Run.get_context()`` and interactive runs started in-process.

* Inside a submitted run the supervisor sets ``AML_RUN_ID`` and ``AML_WORKSPACE``: that run.
* Elsewhere, with a workspace found by ``Workspace.from_config()``: a new interactive run
  (experiment ``$AML_EXPERIMENT_NAME`` or the script's name), completed when the process
  exits or failed on an uncaught exception. Azure ML v1 only printed here.
* With no workspace: an offline run in a throwaway folder. Every method works (v1's offline
  run raised AttributeError on most); log calls also print, as v1's did.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import threading
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..status import RunStatus

if TYPE_CHECKING:
    from .experiment import Experiment
    from .run import Run

_lock = threading.Lock()
_current: Run | None = None


def start_interactive_run(
    experiment: Experiment,
    *,
    display_name: str | None = None,
    run_id: str | None = None,
    outputs: str | os.PathLike[str] | None = "outputs",
    snapshot_directory: str | os.PathLike[str] | None = ".",
) -> Run:
    """A run owned by this process, Running until ``complete()``/``fail()`` or process death."""
    from ..snapshot.git import git_properties
    from ..snapshot.snapshot import take_snapshot
    from .run import INTERACTIVE_RUN, Run
    from .targets import claim_this_process

    ws = experiment.workspace
    try:
        snapshot = (
            take_snapshot(ws.store, snapshot_directory) if snapshot_directory is not None else None
        )
    except AmlError as exc:
        raise AmlError(
            f"{exc} Or start the run without a snapshot: snapshot_directory=None."
        ) from None
    new_id = ws.store.create_run(
        experiment.name,
        INTERACTIVE_RUN,
        RunStatus.RUNNING,
        run_id=run_id,
        display_name=display_name,
        target="local",
        definition={"sourceDirectory": os.getcwd(), "script": _main_script()},
    )
    claim_this_process(ws, new_id)  # it ends Failed, saying why, if this process dies
    props: dict[str, Any] = {"azureml.runsource": "interactive"}
    if snapshot is not None:
        ws.store.update_run(new_id, snapshot_id=snapshot.id)
        props["ContentSnapshotId"] = snapshot.id
        props.update(git_properties(snapshot_directory))  # type: ignore[arg-type]
    ws.store.add_properties(new_id, props)
    run = Run(experiment, new_id)
    if outputs is not None:
        run._outputs_dir = Path(outputs).resolve()
    return run


def _main_script() -> str | None:
    import __main__

    return getattr(__main__, "__file__", None)


def _end_at_exit(run: Run) -> None:
    """Complete ``run`` at interpreter exit, or fail it if an exception is escaping."""
    previous_hook = sys.excepthook

    def hook(exc_type: Any, exc: Any, tb: Any) -> None:
        try:
            run.fail(f"{exc_type.__name__}: {exc}", error_code="UserError")
        finally:
            previous_hook(exc_type, exc, tb)

    sys.excepthook = hook

    def complete_if_running() -> None:
        if run.get_status() not in RunStatus.TERMINAL:
            run.complete()

    atexit.register(complete_if_running)


def _offline_run() -> Run:
    from .experiment import Experiment
    from .workspace import Workspace

    folder = tempfile.mkdtemp(prefix="aml-offline-")
    atexit.register(shutil.rmtree, folder, True)
    ws = Workspace.create(folder)
    run = Experiment(ws, "offline").start_logging(
        run_id=f"OfflineRun_{uuid.uuid4()}", snapshot_directory=None, outputs=None
    )
    run._echo = True
    return run


def current_run(allow_offline: bool = True) -> Run:
    """The run for ``Run.get_context()``; the same object for the whole process."""
    global _current
    with _lock:
        if _current is not None and os.environ.get("AML_RUN_ID") in (None, _current.id):
            return _current
        from .experiment import Experiment, default_experiment_name
        from .run import Run
        from .workspace import Workspace

        run_id = os.environ.get("AML_RUN_ID")
        folder = os.environ.get("AML_WORKSPACE")
        if run_id and folder:
            run = Run.get(Workspace(folder), run_id)
            run._managed = True
        elif (found := Workspace.find()) is not None:
            name = os.environ.get("AML_EXPERIMENT_NAME") or default_experiment_name()
            run = Experiment(Workspace(found), name).start_logging(snapshot_directory=None)
            print(
                f"aml_jupyter: recording into run {run.id} of experiment {name!r} "
                f"(workspace {found})",
                file=sys.stderr,
            )
            _end_at_exit(run)
        elif allow_offline:
            run = _offline_run()
        else:
            raise AmlError(
                "Run.get_context(allow_offline=False): this code is not part of a run and no "
                "workspace was found. Submit it, or create one with `aml workspace create`."
            )
        _current = run
        return run

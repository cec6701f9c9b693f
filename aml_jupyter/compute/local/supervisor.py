"""The run supervisor: ``python -m aml_jupyter.compute.local.supervisor WORKSPACE RUN_ID``.

Started detached by a compute target. It unpacks the snapshot into the run's working folder
(a cached tree of it when it can, see :mod:`aml_jupyter.snapshot.worktree`),
runs the script there in its own process group with stdout+stderr going to the driver log,
keeps a heartbeat, enforces cancel and ``max_run_duration_seconds``, then finalizes the run
(harvests ``./outputs`` and ``./logs``) and records how it ended.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from ...snapshot.worktree import FOLDER as WORKTREES_FOLDER
from ...snapshot.worktree import WorkTreeLease, WorkTrees
from ...status import RunStatus
from ...store.run_folder import BUILD_LOG, TRACKED_FOLDERS
from ...tracking.workspace import Workspace
from . import run_data
from .owner import claim_owner, heartbeat, owner_main
from .processes import escalate
from .ranks import free_port, process_environments
from .script_process import command_line, error_from_log, script_environment
from .sealed_secrets import NodeSecrets, close_fd

HEARTBEAT_INTERVAL_S = 2.0
#: A failed script with less free space than this left on the workspace's disk: "disk full".
DISK_FULL_BYTES = 1 << 20
#: Seconds between SIGTERM and SIGKILL when a run is canceled or times out.
GRACE_S = float(os.environ.get("AML_CANCEL_GRACE_SECONDS", "5"))


def finalize_run(ws: Workspace, run_id: str, status: str, **kwargs: Any) -> None:
    """:func:`aml_jupyter.tracking.finalize.finalize_run`, imported once needed: ending a run
    is not on the way to Running (its imports load while the script runs, see ``_preload``)."""
    from ...tracking.finalize import finalize_run as finalize

    finalize(ws, run_id, status, **kwargs)


def _preload() -> None:
    """Import what ending the run needs while the script runs (~12 ms less to Completed)."""
    try:
        from ...store import metric_index  # noqa: F401 (indexing the run's metrics)
        from ...tracking import finalize  # noqa: F401
    except Exception:  # imported again, and then reported, where it is used
        pass


class Supervisor:
    """Runs one run to its end. Signals (SIGTERM = cancel) only set flags; the loop acts."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        self.ws = ws
        self.run_id = run_id
        self.folder = ws.store.run_folder(run_id)
        self.cancel_requested = threading.Event()
        self.finished = threading.Event()
        self.work_tree: WorkTreeLease | None = None
        #: The environment variables of the run's datasets (v1's contract), once laid out.
        self.data_env: dict[str, str] = {}
        #: A remote run's secrets (its key, its sealed file), handed to each script process.
        self.secrets: NodeSecrets | None = None

    def _beat(self) -> None:
        claimed = False
        while not self.finished.wait(HEARTBEAT_INTERVAL_S):
            heartbeat(self.folder)
            if not claimed:
                # Whoever started us recorded us as the run's owner already (submission's
                # record_run); saying so ourselves loads psutil (~20 ms), so it waits until
                # the script runs instead of standing between the run id and Running.
                claimed = True
                try:
                    claim_owner(self.ws, self.run_id, os.getpid())
                except Exception:
                    traceback.print_exc()
            try:
                if self.ws.store.get_run(self.run_id).status == RunStatus.CANCEL_REQUESTED:
                    self.cancel_requested.set()
            except Exception:  # a busy database must not stop the heartbeat
                traceback.print_exc()

    def _cancel_asked(self) -> bool:
        """Whether a cancel was asked for in the database (before SIGTERM could reach us)."""
        return self.ws.store.get_run(self.run_id).status == RunStatus.CANCEL_REQUESTED

    def _signal_all(self, procs: list[Any], sig: int) -> None:
        """Signal every process of the run: they share the first one's process group."""
        os.killpg(procs[0].pid, sig)

    def _stop(self, procs: list[Any], exited: threading.Event) -> None:
        """SIGTERM the script's processes, then SIGKILL them after the grace period (their
        wait threads reap them: they keep the exit codes)."""
        escalate(lambda sig: self._signal_all(procs, sig), exited.wait, GRACE_S)

    def _collect(self) -> None:
        """After the processes ended, before the run is finalized (Ray ranks fetch files)."""

    def _system_error(self) -> dict[str, str] | None:
        """What failed the run that was not its script (a Ray node lost), else None."""
        return None

    def _materialise(self, snapshot_id: str, source: str | None) -> Path:
        """The run's working folder, holding exactly its snapshot, with empty ``./outputs``
        and ``./logs`` of its own: the cached tree of the last run of this snapshot (or of
        this source folder), checked and refreshed where it differs, else a fresh copy (see
        :mod:`aml_jupyter.snapshot.worktree`)."""
        work = self.folder.work
        trees = WorkTrees(self.ws.folder / WORKTREES_FOLDER, self.ws.blobs)
        self.work_tree = trees.lease(snapshot_id, work, keep=TRACKED_FOLDERS, family=source)
        print(self.work_tree.describe(), flush=True)  # into the supervisor's own log
        for sub in TRACKED_FOLDERS:
            (work / sub).mkdir(exist_ok=True)
        return work

    def _give_back_work_tree(self) -> None:
        """Once no process of the run is left: the tree back to the cache, ``./outputs`` and
        ``./logs`` left in the working folder for finalizing. Never stops the run ending."""
        lease, self.work_tree = self.work_tree, None
        if lease is not None:
            try:
                lease.give_back()
            except Exception:
                traceback.print_exc()

    def run(self) -> None:
        """Prepare, start, watch and finalize; never raises (a failure ends the run Failed)."""

        records = self.ws.store
        heartbeat(self.folder)
        signal.signal(signal.SIGTERM, lambda *_: self.cancel_requested.set())
        threading.Thread(target=self._beat, daemon=True).start()
        row = records.get_run(self.run_id)
        definition = dict(row.definition)
        try:
            records.set_status(self.run_id, RunStatus.PREPARING)
            self.folder.user_logs.mkdir(parents=True, exist_ok=True)
            self.folder.reserve_space()
            environment = definition.get("environment")
            if isinstance(environment, dict):
                try:
                    definition["python"] = self._prepare(environment)
                except Exception as exc:
                    finalize_run(
                        self.ws,
                        self.run_id,
                        RunStatus.FAILED,
                        error={"code": "EnvironmentBuildFailed", "message": str(exc)},
                    )
                    return
            work = self._materialise(str(row.snapshot_id), definition.get("sourceDirectory"))
            try:  # datasets in and out: laid out before the script (see compute.local.run_data)
                self.data_env = self._prepare_data(definition)
            except Exception as exc:
                traceback.print_exc()
                self._give_back_work_tree()
                finalize_run(
                    self.ws,
                    self.run_id,
                    RunStatus.FAILED,
                    error={"code": "DatasetInputFailed", "message": str(exc)},
                )
                return
            records.set_status(self.run_id, RunStatus.STARTING)
            if self.cancel_requested.is_set() or self._cancel_asked():
                self._give_back_work_tree()
                finalize_run(self.ws, self.run_id, RunStatus.CANCELED)
                return
            procs = self._start_processes(definition, work, row.experiment)
            if procs[0].pid:  # a local process group (not a Ray actor)
                records.update_run(self.run_id, child_pid=procs[0].pid)
            records.set_status(self.run_id, RunStatus.RUNNING)
            threading.Thread(target=_preload, daemon=True).start()
        except Exception as exc:
            traceback.print_exc()
            finalize_run(
                self.ws,
                self.run_id,
                RunStatus.FAILED,
                error={"code": "PreparationFailed", "message": f"The run could not start: {exc}"},
            )
            return
        self._watch(procs, float(definition["maxRunDurationSeconds"]))

    def _prepare_data(self, definition: dict[str, Any]) -> dict[str, str]:
        """The run's datasets laid out for its processes (v1's variables; the arguments get
        their paths); the Ray supervisor's ranks lay out their own."""
        return run_data.prepare(self.ws, self.run_id, definition)

    def _prepare(self, environment: dict[str, Any]) -> str:
        """The run environment's Python; a build is announced in the driver log, so whoever
        follows the run (``aml run logs -f``, the widget, the sidebar) sees why it waits."""
        from ...environments import build as envbuild

        if envbuild.is_ready(self.ws.folder, environment):
            python = envbuild.resolve(self.ws.folder, environment, self.folder.build_log)
            with open(self.folder.driver_log, "a") as driver_log:
                driver_log.write(envbuild.interpreter_line(environment, python) + "\n")
            return python
        how = "its docker image" if environment["docker"]["enabled"] else "it with uv"
        with open(self.folder.driver_log, "a") as driver_log:
            driver_log.write(
                f"[aml] Preparing environment {environment['name']!r}: building {how} "
                f"(once; its log is {BUILD_LOG})\n"
            )
            driver_log.flush()
            start = time.monotonic()
            python = envbuild.resolve(
                self.ws.folder, environment, self.folder.build_log, echo=driver_log
            )
            driver_log.write(
                f"[aml] Environment {environment['name']!r} ready in "
                f"{time.monotonic() - start:.1f} s\n"
            )
            driver_log.write(envbuild.interpreter_line(environment, python) + "\n")
        return python

    def _start_processes(
        self, definition: dict[str, Any], work: Path, experiment: str
    ) -> list[Any]:
        """Start the script: one process, or one per rank of a distributed job.

        All of them share one process group (the first one's), so one signal reaches every
        process the run started; each writes its own log.
        """
        import subprocess

        environment = definition.get("environment")
        base_env = script_environment(
            self.ws,
            self.run_id,
            experiment,
            environment if isinstance(environment, dict) else None,
            definition.get("python"),
        )
        base_env.update(self.data_env)
        envs = process_environments(definition.get("distributed"), free_port())
        procs: list[subprocess.Popen[bytes]] = []
        for rank, extra in enumerate(envs):
            # A remote run's secrets key: in a pipe of this process's own (not in a container).
            docker = isinstance(environment, dict) and environment["docker"]["enabled"]
            secret_env, key_fd = self.secrets.for_process(docker) if self.secrets else ({}, None)
            argv = command_line(definition)
            if isinstance(environment, dict) and docker:
                # The same process handling; the process runs the script in a container.
                from . import container

                argv = container.command(
                    self.ws.folder,
                    work,
                    self.run_id,
                    rank,
                    environment,
                    {**base_env, **extra, **secret_env},
                    argv,
                )
            # Rank 0 leads a new process group (in our session); the other ranks join it.
            leader = procs[0].pid if procs else 0
            group: dict[str, Any] = (
                {"process_group": leader}
                if sys.version_info >= (3, 11)
                else {"preexec_fn": functools.partial(os.setpgid, 0, leader)}
            )
            with open(self.folder.process_log(rank), "ab") as log:
                procs.append(
                    subprocess.Popen(
                        argv,
                        cwd=work,
                        env={**base_env, **extra, **secret_env},
                        stdin=subprocess.DEVNULL,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        pass_fds=() if key_fd is None else (key_fd,),
                        **group,
                    )
                )
            close_fd(key_fd)  # the process has its own end of the pipe
        return procs

    def _watch(self, procs: list[Any], max_duration: float) -> None:
        """Wait for the script's processes; stop them all on cancel, timeout or a failed rank."""
        deadline = time.monotonic() + max_duration
        outcome = None
        codes: dict[int, int] = {}
        all_done, one_failed = threading.Event(), threading.Event()

        def wait_for(rank: int, proc: Any) -> None:
            # A blocking wait per process wakes us the moment one exits (no poll delay).
            codes[rank] = proc.wait()
            if codes[rank] != 0:
                one_failed.set()
            if len(codes) == len(procs):
                all_done.set()

        for rank, proc in enumerate(procs):
            threading.Thread(target=wait_for, args=(rank, proc), daemon=True).start()
        while not all_done.wait(0.1):
            if self.cancel_requested.is_set():
                outcome = "canceled"
            elif time.monotonic() > deadline:
                outcome = "timeout"
            elif one_failed.is_set():
                outcome = "failed"  # a rank died: the others would wait for it forever
            if outcome:
                self._stop(procs, all_done)
                break
        for rank, proc in enumerate(procs):
            codes[rank] = proc.wait()
        if outcome is None and self.cancel_requested.is_set():
            outcome = "canceled"  # the stop reached the script too (Ray signals the whole tree)
        try:
            self._signal_all(procs, signal.SIGKILL)  # nothing the script started outlives its run
        except (ProcessLookupError, PermissionError):
            pass
        self._collect()
        self._give_back_work_tree()
        # The first rank that failed on its own (not one we stopped) explains the failure.
        failed = [r for r in sorted(codes) if codes[r] > 0] or [
            r for r in sorted(codes) if codes[r]
        ]
        rank = failed[0] if failed else 0
        code = codes[rank]
        log_path = self.folder.process_log(rank)
        requested = self.ws.store.get_run(self.run_id).error
        if outcome == "canceled":
            finalize_run(self.ws, self.run_id, RunStatus.CANCELED, exit_code=code)
        elif outcome == "timeout":
            error = {
                "code": "MaxRunDurationExceeded",
                "message": f"The run exceeded max_run_duration_seconds={max_duration:g} and was stopped.",
            }
            finalize_run(self.ws, self.run_id, RunStatus.FAILED, error=error, exit_code=code)
        elif (system := self._system_error()) is not None:
            finalize_run(self.ws, self.run_id, RunStatus.FAILED, error=system, exit_code=code)
        elif code != 0:
            message = error_from_log(log_path, code)
            if len(procs) > 1:
                message = f"Process {rank} of {len(procs)}: {message}"
            error = {"code": "UserError", "message": message}
            free = _free_bytes(self.folder.root)
            if free is not None and free < DISK_FULL_BYTES:
                error = {
                    "code": "DiskFull",
                    "message": f"The disk holding the workspace is full ({free:,} bytes free "
                    f"in {self.ws.folder}); the script ended with it. {message}",
                }
            finalize_run(self.ws, self.run_id, RunStatus.FAILED, error=error, exit_code=code)
        elif requested:
            finalize_run(self.ws, self.run_id, RunStatus.FAILED, error=dict(requested), exit_code=0)
        else:
            finalize_run(self.ws, self.run_id, RunStatus.COMPLETED, exit_code=0)


def _free_bytes(folder: Path) -> int | None:
    """Free space on the file system of ``folder`` (None when it cannot be told)."""
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


def _supervise(ws: Workspace, run_id: str) -> None:
    supervisor = Supervisor(ws, run_id)
    # A run from another machine (the agent's): its secrets key, out of our environment first.
    supervisor.secrets = NodeSecrets.from_environ(supervisor.folder)
    try:
        supervisor.run()
    finally:
        supervisor.finished.set()
        if supervisor.secrets is not None:
            supervisor.secrets.discard()


def main(argv: list[str] | None = None) -> int:
    """Entry point: ``supervisor WORKSPACE [RUN_ID]`` (see :func:`.owner.owner_main`)."""
    return owner_main(
        argv, "supervisor.log", _supervise, "The run's supervisor failed", "SupervisorError"
    )


if __name__ == "__main__":
    sys.exit(main())

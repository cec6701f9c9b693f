"""The ``cluster`` target: a Ray cluster, runs submitted as Ray Jobs.

``ComputeCluster.attach(ws, "ray", "http://127.0.0.1:8265")`` (or ``aml compute attach ray
--type cluster --address ...``) registers a cluster by its job-submission address. A submit
takes the snapshot here (our limits, checked before Ray's), sends it as the job's
``working_dir`` (Ray keeps it by content hash: an unchanged folder is not sent again), the
environment as ``runtime_env`` (pip packages, variables) and always sets the entrypoint's CPU
(and GPU) request, so the job waits for a worker with room instead of landing anywhere.
The entrypoint (:mod:`aml_jupyter.compute.cluster.ray_driver`) runs the same supervisor as ``local``
and streams the run folder back through the job's log; the mirror here
(:mod:`aml_jupyter.compute.remote`) writes it into this workspace, checking every name, hash
and state a frame carries first (:mod:`aml_jupyter.compute.untrusted`). A job waiting for
resources shows as ``Queued``; ``run.cancel()`` stops the job.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...paths import PACKAGE_DIR
from ...status import RunStatus
from ...store.run_folder import DRIVER_LOG, INCOMING, STREAMED, USER_LOGS
from .. import ComputeTarget, check_target_name
from ..remote import POLL_S, RemoteGone, RemoteState, RemoteUnreachable, append_chunk
from ..untrusted import BlobSink, checked_file_row, checked_state, checked_status

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...store.run_folder import RunFolder
    from ...tracking.workspace import Workspace

KIND = "ComputeCluster"
#: Ray refuses a job package (working_dir) over 500 MiB; we say so first, with our advice.
RAY_PACKAGE_LIMIT = 500 * 1024 * 1024
#: What the job's driver asks for when the processes have bundles of their own.
DRIVER_CPUS = 0.1


def _client(address: str) -> Any:
    """A Ray job-submission client, or a clear error (Ray missing, cluster not answering)."""
    try:
        from ray.job_submission import JobSubmissionClient
    except ImportError:
        raise AmlError(
            "The cluster target needs Ray: pip install 'aml-jupyter[cluster]' (or 'ray[default]')."
        ) from None
    # Ray announces each package upload at INFO level: noise under a notebook cell.
    for name in ("ray.dashboard.modules.dashboard_sdk", "ray._private.runtime_env.packaging"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return JobSubmissionClient(address)
    except Exception as exc:  # Ray raises ConnectionError, ValueError, RuntimeError...
        raise RemoteUnreachable(
            f"the Ray cluster at {address} does not answer ({str(exc).splitlines()[0]}). Start "
            "one with `ray start --head --dashboard-host 127.0.0.1` or check the address "
            "(the job-submission URL, port 8265 by default)."
        ) from None


def _check_address(address: Any) -> str:
    text = str(address).strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise AmlError(
            f"The Ray address {address!r} must be the job-submission URL, e.g. "
            "http://127.0.0.1:8265."
        )
    return text


class _RayRemote:
    """:class:`~aml_jupyter.compute.remote.Remote` for a Ray job: its status and its log."""

    def __init__(self, address: str, job_id: str, nonce: str, target: str) -> None:
        self.address = address
        self.job_id = job_id
        self.prefix = f"@@aml:{nonce}:"
        self._entrypoint_line = f"Running entrypoint for job {job_id}:"
        self.where = f"Ray cluster {target!r} ({address})"
        self.pause = POLL_S
        self._client: Any = None
        self._consumed = 0
        self._partial = ""
        self._files: list[tuple[str, str, int]] = []
        self._end: RemoteState | None = None
        self._status = RunStatus.QUEUED
        self._stop_sent = False

    def _connect(self) -> Any:
        if self._client is None:
            self._client = _client(self.address)
        return self._client

    def sync(self, folder: RunFolder) -> RemoteState:
        from ray.job_submission import JobStatus

        client = self._connect()
        try:
            info = client.get_job_info(self.job_id)
            logs = client.get_job_logs(self.job_id)
        except RuntimeError as exc:
            if "does not exist" in str(exc) or "404" in str(exc):
                raise RemoteGone(f"{self.where} has no job {self.job_id!r}.") from None
            raise RemoteUnreachable(str(exc).splitlines()[0]) from None
        except Exception as exc:
            self._client = None
            raise RemoteUnreachable(str(exc).splitlines()[0] if str(exc) else repr(exc)) from None
        ended = info.status in (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.STOPPED)
        self._read(folder.root, logs[self._consumed :], final=ended)
        self._consumed = len(logs)
        if self._end is not None:
            return self._end
        if ended:
            if info.status == JobStatus.STOPPED:
                return RemoteState(RunStatus.CANCELED)
            message = info.message or f"The Ray job ended {info.status} before the run finished."
            return RemoteState(RunStatus.FAILED, {"code": "ClusterJobFailed", "message": message})
        if info.status == JobStatus.PENDING:
            if self._stop_sent:
                # Ray holds a stop for a job that never got resources until it gets them; none
                # of it runs, so the run ends here (the job stops the moment it would start).
                note = "[aml] Canceled while the Ray job waited for resources; it never started.\n"
                append_chunk(folder.root, DRIVER_LOG, note.encode(), (USER_LOGS,))
                return RemoteState(RunStatus.CANCELED)
            return RemoteState(RunStatus.QUEUED)  # waiting for resources or its runtime_env
        return RemoteState(self._status)

    def _read(self, root: Path, text: str, final: bool) -> None:
        """Split the job's new log text into driver-log lines and frames."""
        text = self._partial + text
        lines = text.split("\n")
        self._partial = "" if final else lines.pop()
        driver_lines: list[str] = []
        for line in lines:
            if line.startswith(self._entrypoint_line):
                continue  # Ray echoes the entrypoint: our encoded spec, noise in a driver log
            if line.startswith(self.prefix):
                if driver_lines:
                    append_chunk(
                        root, DRIVER_LOG, "".join(driver_lines).encode(), (USER_LOGS,)
                    )  # our own name: the driver log
                    driver_lines = []
                self._frame(root, line[len(self.prefix) :])
            elif line or not final:
                driver_lines.append(line + "\n")
        if driver_lines:
            append_chunk(root, DRIVER_LOG, "".join(driver_lines).encode(), (USER_LOGS,))

    def _frame(self, root: Path, frame: str) -> None:
        """One frame of the driver's; what it names is checked before it is used."""
        kind, _, payload = frame.partition(":")
        if kind == "status":
            self._status = checked_status(payload, self.where)
        elif kind in ("chunk", "blob"):
            name, _, data = payload.rpartition(":")
            try:
                raw = base64.b64decode(data, validate=True)
            except (binascii.Error, ValueError):
                raise RemoteGone(
                    f"The {self.where} sent bytes for {name!r} that are not base64."
                ) from None
            if kind == "chunk":
                append_chunk(root, name, raw, STREAMED, self.where)
            else:
                append_chunk(root, f"{INCOMING}/{name}", raw, (INCOMING,), self.where)
        elif kind == "file":
            self._files.append(checked_file_row(self._json(payload), self.where))
        elif kind == "end":
            end = self._json(payload)
            if not isinstance(end, dict):
                raise RemoteGone(f"The {self.where} sent an end frame that is not an object.")
            state = checked_state(end, self.where)
            if state.status not in RunStatus.TERMINAL:
                raise RemoteGone(f"The {self.where} ended the run as {state.status!r}.")
            self._end = state

    def _json(self, payload: str) -> Any:
        try:
            return json.loads(payload)
        except ValueError:
            raise RemoteGone(f"The {self.where} sent a frame that is not JSON.") from None

    def cancel(self) -> None:
        self._stop_sent = True
        try:
            self._connect().stop_job(self.job_id)
        except RemoteUnreachable:
            raise
        except Exception as exc:
            raise RemoteUnreachable(str(exc).splitlines()[0]) from None

    def collect(self, ws: Workspace, run_id: str) -> None:
        import shutil

        incoming = ws.store.run_folder(run_id).incoming
        rows = []
        try:
            for name, sha, _ in self._files:  # names and hashes checked in _frame()
                staged = incoming / name
                if staged.is_file():
                    _store_checked(ws, staged, sha, name)
                elif sha not in ws.blobs:
                    raise AmlError(f"The run file {name!r} did not arrive.")
                rows.append((name, sha, ws.blobs.size(sha)))
        finally:
            shutil.rmtree(incoming, ignore_errors=True)
        ws.store.add_files(run_id, rows)


def _store_checked(ws: Workspace, staged: Path, sha: str, name: str) -> None:
    """Store a staged run file as blob ``sha``, refused unless its bytes have that hash."""
    sink = BlobSink(ws.blobs)
    with open(staged, "rb") as f:
        while piece := f.read(1024 * 1024):
            sink.write(piece)
    try:
        sink.commit(sha)
    except AmlError:
        raise AmlError(f"The run file {name!r} arrived damaged (its hash differs).") from None


class ComputeCluster(ComputeTarget):
    """A Ray cluster attached by its job-submission address."""

    @staticmethod
    def attach(
        workspace: Workspace,
        name: str,
        address: str,
        cpus_per_process: float = 1,
        gpus_per_process: float = 0,
    ) -> ComputeCluster:
        """Check the cluster answers at ``address``, then register it as ``name``.

        ``cpus_per_process``/``gpus_per_process``: what each process of a run asks Ray for.
        """
        check_target_name(name)
        address = _check_address(address)
        for what, value in (
            ("cpus_per_process", cpus_per_process),
            ("gpus_per_process", gpus_per_process),
        ):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
                raise AmlError(f"{what} must be a number >= 0, got {value!r}.")
        if cpus_per_process <= 0 and gpus_per_process <= 0:
            raise AmlError("A process must ask for some CPU or GPU (cpus_per_process > 0).")
        try:
            _client(address)
        except RemoteUnreachable as exc:
            raise AmlError(f"Cannot attach {name!r}: {exc}") from None
        config = {
            "address": address,
            "cpus_per_process": cpus_per_process,
            "gpus_per_process": gpus_per_process,
        }
        workspace.store.attach_compute_target(name, KIND, config)
        return ComputeCluster(workspace, name)

    def get_status(self) -> str:
        """``Running`` when the cluster answers, else ``Unreachable``."""
        try:
            _client(self.config["address"])
        except AmlError:
            return "Unreachable"
        return "Running"

    # A submit (compute/submission.py): the snapshot is taken here (our limits, checked
    # before Ray's), sent as a Ray job's working_dir, and the job followed by a mirror.
    _owner_module = "aml_jupyter.compute.remote"

    def _check(self, definition: dict[str, Any]) -> None:
        environment = definition.get("environment")
        if environment and environment["docker"]["enabled"]:
            raise AmlError(
                f"Environment {environment['name']!r} has docker.enabled, which the Ray cluster "
                "target does not run: set env.docker.enabled = False (its pip packages become "
                "the job's runtime_env), or submit it to 'local' or a compute instance."
            )

    def _package(self, snapshot_id: str) -> Path:
        """One folder per snapshot: the same content gives Ray the same package (no re-upload)."""
        return self.workspace.folder / "cache" / "ray" / snapshot_id

    def _prepare(self, snapshot: Snapshot, definition: dict[str, Any]) -> None:
        from ...snapshot.snapshot import restore_snapshot

        if snapshot.size > RAY_PACKAGE_LIMIT:
            raise AmlError(
                f"The snapshot is {snapshot.size / 2**20:.0f} MiB; a Ray job takes at most "
                f"{RAY_PACKAGE_LIMIT // 2**20} MiB of files. Leave data and checkpoints out "
                "with a .amlignore file and read them from shared storage in the script."
            )
        package = self._package(snapshot.id)
        if not package.is_dir():
            restore_snapshot(self.workspace.blobs, snapshot.id, package.with_suffix(".tmp"))
            package.with_suffix(".tmp").rename(package)

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        from .ray_driver import encode_spec

        try:
            client = _client(self.config["address"])
        except RemoteUnreachable as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None
        nonce = secrets.token_hex(8)
        cpus = self.config.get("cpus_per_process", 1)
        gpus = self.config.get("gpus_per_process", 0)
        definition["cluster"] = {"job": run_id, "nonce": nonce}  # recorded: the mirror's key
        spec = {
            "id": run_id,
            "experiment": experiment,
            "nonce": nonce,
            "definition": definition,
            "tags": tags or {},
            "resources": {"cpus": cpus, "gpus": gpus},
        }
        try:
            client.submit_job(
                entrypoint=f"python -m aml_jupyter.compute.cluster.ray_driver {encode_spec(spec)}",
                submission_id=run_id,
                runtime_env=self._runtime_env(
                    self._package(snapshot.id), definition.get("environment")
                ),
                metadata={"aml_run_id": run_id, "aml_experiment": experiment},
                # One process: the driver runs it and asks for its share. Several: each has
                # its own placement-group bundle, the driver only a sliver of a CPU.
                entrypoint_num_cpus=DRIVER_CPUS if definition.get("distributed") else cpus,
                entrypoint_num_gpus=0 if definition.get("distributed") else gpus,
            )
        except Exception as exc:
            if isinstance(exc, AmlError):
                raise
            raise AmlError(f"Ray refused the job: {str(exc).splitlines()[0]}") from None

    @staticmethod
    def _runtime_env(package: Path, environment: dict[str, Any] | None) -> dict[str, Any]:
        """The job's runtime_env: the snapshot, aml_jupyter itself, the environment's packages
        and variables (a user-managed environment: the cluster's own Python as it is)."""
        env: dict[str, Any] = {
            "working_dir": str(package),
            "py_modules": [str(PACKAGE_DIR)],
            "env_vars": {"PYTHONUNBUFFERED": "1"},
        }
        if environment is not None:
            env["env_vars"].update(environment.get("environment_variables", {}))
            python = environment["python"]
            if not python["user_managed_dependencies"]:
                deps = python["conda_dependencies"]
                packages = list(deps.get("pip", []))
                if deps.get("requirements"):  # a kept requirements file, its -r files inlined
                    from ...environments.requirements import flat_lines

                    packages += flat_lines(deps["requirements"])
                if packages:
                    env["pip"] = packages
        return env

    def _remote(self, run_id: str) -> _RayRemote:
        row = self.workspace.store.get_run(run_id)
        cluster = row.definition.get("cluster") or {}
        if "nonce" not in cluster:
            raise AmlError(f"Run {run_id!r} was not submitted to a Ray cluster.")
        return _RayRemote(self.config["address"], cluster["job"], cluster["nonce"], self.name)


__all__ = ["ComputeCluster"]

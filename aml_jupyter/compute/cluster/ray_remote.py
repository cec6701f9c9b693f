"""Following a Ray job from the run's mirror: its status, its log (the driver's frames), cancel.

A :class:`~aml_jupyter.compute.remote.Remote` over Ray's job API in plain HTTP
(:mod:`.jobs_api`), so the mirror never imports Ray. Each poll asks for the job's status and,
once it has started, its log: read whole while small (``GET /logs``, Ray has no offset),
then through Ray's websocket tail (:mod:`.log_tail`), parsing only what is new.
A job that waits for resources says why in the driver log within seconds (what it asks,
what the cluster has), and one that Ray gives up on (its start timeout) ends with that reason.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...status import RunStatus
from ...store.run_folder import (
    DRIVER_LOG,
    INCOMING,
    RAY_JOB_LOG,
    STREAMED,
    SYSTEM_LOGS,
    USER_LOGS,
)
from ..remote import POLL_S, RemoteGone, RemoteState, RemoteUnreachable, append_chunk
from ..untrusted import BlobSink, checked_file_row, checked_state, checked_status
from .ray_resources import asked_text, waiting_note

if TYPE_CHECKING:
    from ...store.run_folder import RunFolder
    from ...tracking.workspace import Workspace
    from .jobs_api import RayJobs
    from .log_tail import LogTail

#: Characters of log read whole at each poll; past that, the websocket tail.
WHOLE_READ_MAX = 1_000_000
#: Most seconds the mirror waits to delete the job of a run canceled while it waited.
LINGER_S = 960.0
#: Seconds between looks at what the cluster has while a job waits (the first look at once).
QUEUED_LOOK_S = 2.0
#: Seconds to wait for Ray to call a dead driver's node dead.
NODE_DEATH_WAIT_S = 30.0
_ENDED = ("SUCCEEDED", "FAILED", "STOPPED")
#: What Ray's job manager says before our driver starts (a run file among its system logs).
START_LOG = f"{SYSTEM_LOGS}/ray_job_start.txt"
#: What the job's driver process printed (Ray's own lines in it): streamed like a log.
SYSTEM_LOG = RAY_JOB_LOG


class RayRemote:
    """:class:`~aml_jupyter.compute.remote.Remote` for a Ray job: its status and its log."""

    def __init__(
        self,
        address: str,
        job_id: str,
        nonce: str,
        target: str,
        asks: dict[str, float] | None = None,
    ) -> None:
        self.address = address
        self.job_id = job_id
        self.prefix = f"@@aml:{nonce}:"
        self._entrypoint_line = f"Running entrypoint for job {job_id}:"
        self.where = f"Ray cluster {target!r} ({address})"
        self.pause = POLL_S
        self.asks = asks or {}
        self._api: RayJobs | None = None
        self._consumed = 0
        self._partial = ""
        self._files: list[tuple[str, str, int]] = []
        self._end: RemoteState | None = None
        self._status = RunStatus.QUEUED
        self._stop_sent = False
        self._canceled_waiting = False
        self._pending_since: float | None = None
        self._tail: LogTail | None = None
        self._skip = 0
        self._looked = 0.0
        self._noted = False
        self._entered = False  # past Ray's own lines, at our driver's

    def _jobs(self) -> RayJobs:
        if self._api is None:
            from .jobs_api import RayJobs

            self._api = RayJobs(self.address)
        return self._api

    def sync(self, folder: RunFolder) -> RemoteState:
        jobs = self._jobs()
        info = jobs.info(self.job_id)
        if info is None:
            raise RemoteGone(f"{self.where} has no job {self.job_id!r}.")
        status = info["status"]
        ended = status in _ENDED
        if status != "PENDING":  # a job that has not started has no log yet
            try:
                self._read(folder.root, self._new_log(ended), final=ended)
            except RemoteUnreachable:
                # Ray answers for the job but not with its log: the dashboard reads the log
                # from the driver's node, which may be gone. Then the run ends here, saying so,
                # without waiting for Ray to notice.
                lost = self._driver_node_lost(info, wait_s=0)
                if lost is None:
                    raise
                return RemoteState(RunStatus.FAILED, lost)
        if self._end is not None:
            return self._end
        if ended:
            if status == "STOPPED":
                return RemoteState(RunStatus.CANCELED)
            return RemoteState(RunStatus.FAILED, self._job_error(info))
        if status == "PENDING":
            if self._stop_sent:
                note = (
                    "[aml] Canceled while the Ray job waited for resources; it never started. "
                    "Ray cannot drop a waiting job: it holds the stop until the job would "
                    "start (then it ends STOPPED at once), or fails it after its start "
                    "timeout; the job is deleted from Ray then.\n"
                )
                self._canceled_waiting = True
                append_chunk(folder.root, DRIVER_LOG, note.encode(), (USER_LOGS,))
                return RemoteState(RunStatus.CANCELED)
            self._note_waiting(folder)
            return RemoteState(RunStatus.QUEUED)  # waiting for resources or its runtime_env
        return RemoteState(self._status)

    def _new_log(self, ended: bool) -> str:
        """The log text past what was read: from the websocket tail once the log is large
        (see :mod:`.log_tail`), else (and at the end, for the last of it) a whole read."""
        if self._tail is not None:
            if not ended and not self._tail.closed:
                text = self._tail.read()
                skip = min(self._skip, len(text))  # the tail starts at the log's beginning
                self._skip -= skip
                return text[skip:]
            self._tail.close()
            self._tail = None
        logs = self._jobs().logs(self.job_id)
        if not ended and len(logs) > WHOLE_READ_MAX:
            from .log_tail import LogTail

            try:
                api = self._jobs()
                self._tail = LogTail(self.address, self.job_id, api.headers, api.timeout)
                self._skip = len(logs)
            except AmlError:
                pass  # whole reads, then
        return logs[self._consumed :]

    def _note_waiting(self, folder: RunFolder) -> None:
        """While the job waits: once it is short of resources (or slow to start), what it
        asks for and what the cluster has, in the driver log."""
        now = time.monotonic()
        if self._pending_since is None:
            self._pending_since = now
        if self._noted or now - self._looked < QUEUED_LOOK_S:
            return
        self._looked = now
        try:
            cluster = self._jobs().resources()
        except AmlError:
            cluster = {"total": {}, "used": {}, "nodes": []}
        note = waiting_note(self.asks, cluster, now - self._pending_since)
        if note is not None:
            self._noted = True
            append_chunk(folder.root, DRIVER_LOG, note.encode(), (USER_LOGS,))

    def _job_error(self, info: dict[str, Any]) -> dict[str, str]:
        """The run's error for a Ray job that ended before our driver said how the run did."""
        message = str(info.get("message") or "")
        if info.get("error_type") == "JOB_SUPERVISOR_ACTOR_START_TIMEOUT":
            asked = asked_text(self.asks)
            return {
                "code": "ClusterQueueTimeout",
                "message": (
                    "The Ray cluster gave up on the job: Ray did not start it within its "
                    "start timeout (RAY_JOB_START_TIMEOUT_SECONDS on the head, 900 s by "
                    f"default){f', asking for {asked}' if asked else ''}. Either other jobs held "
                    "what it asks for (ask for less with cpus_per_process, or add a node that "
                    "has it) or starting it took that long (its runtime environment's packages, "
                    "a busy head): raise the timeout. "
                    f"Ray said: {message}"
                ),
            }
        if info.get("status") == "SUCCEEDED" and not self._entered:
            node = info.get("driver_node_id") or "?"
            return {
                "code": "ClusterLogMissing",
                "message": (
                    f"The Ray job succeeded, but its log holds none of the run's output (its "
                    f"driver ran on node {node}). Ray's log API read another node's copy: on "
                    "one machine with a temp folder per node, only a driver on the head is "
                    "read back (the README's cluster section says how to set up such a cluster)."
                ),
            }
        if info.get("error_type") == "JOB_SUPERVISOR_ACTOR_DIED":
            lost = self._driver_node_lost(info)
            if lost is not None:
                return lost
        return {
            "code": "ClusterJobFailed",
            "message": message or f"The Ray job ended {info['status']} before the run finished.",
        }

    def _driver_node_lost(
        self, info: dict[str, Any], wait_s: float = NODE_DEATH_WAIT_S
    ) -> dict[str, str] | None:
        """``NodeLost`` when the node the job's driver runs on is dead (asked for up to
        ``wait_s``: the GCS needs a few missed health checks to call a node dead)."""
        node_id = info.get("driver_node_id")
        if not node_id:
            return None
        deadline = time.monotonic() + wait_s
        while True:
            try:
                node = self._jobs().node(str(node_id))
            except AmlError:
                node = None
            if node is not None and node.get("state") == "DEAD":
                return {
                    "code": "NodeLost",
                    "message": f"Ray node {node.get('node_ip') or '?'} (id {node_id}) was lost "
                    "while the run's driver ran on it. This is not an error in the script: "
                    "submit the run again.",
                }
            if time.monotonic() > deadline:
                return None
            time.sleep(1.0)

    def _read(self, root: Path, text: str, final: bool) -> None:
        """Split the job's new log text into driver-log lines and frames."""
        self._consumed += len(text)
        text = self._partial + text
        lines = text.split("\n")
        self._partial = "" if final else lines.pop()
        driver_lines: list[str] = []
        for line in lines:
            if line.startswith(self._entrypoint_line):
                self._entered = True  # Ray echoes the entrypoint: our encoded spec, noise
                continue
            if not self._entered and not line.startswith(self.prefix):
                # Ray's job manager before our driver starts ("Runtime env is setting up."):
                # the run's system log, not the user's. Our driver's first frame ends it.
                if line:
                    append_chunk(root, START_LOG, (line + "\n").encode(), (SYSTEM_LOGS,))
                continue
            self._entered = True
            if line.startswith(self.prefix):
                if driver_lines:
                    append_chunk(root, DRIVER_LOG, "".join(driver_lines).encode(), (USER_LOGS,))
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
                # Of the system logs, only the driver's own is sent (never the staging area).
                where = (SYSTEM_LOGS,) if name == SYSTEM_LOG else STREAMED
                append_chunk(root, name, raw, where, self.where)
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
        from .jobs_api import RayRefused

        try:
            self._jobs().stop(self.job_id)
        except RayRefused as exc:
            if exc.status != 404:  # no such job: nothing to stop (sync says it is gone)
                raise

    def after_end(self) -> None:
        """After a run canceled while its job waited: wait (in the mirror, in the
        background) for Ray to end the job, then delete it, so no job of a canceled run is
        left on the cluster. Bounded by Ray's default start timeout."""
        if not self._canceled_waiting:
            return
        from .jobs_api import RayRefused

        deadline, unreachable_since = time.monotonic() + LINGER_S, None
        while time.monotonic() < deadline:
            try:
                info = self._jobs().info(self.job_id)
                unreachable_since = None
                if info is None:
                    return
                if info["status"] in _ENDED:
                    self._jobs().delete(self.job_id)
                    return
            except RayRefused:
                return
            except AmlError:  # unreachable: tried for a while
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > 30:
                    return
            time.sleep(QUEUED_LOOK_S)

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
        for name in (START_LOG, SYSTEM_LOG):  # written here: by _read, and streamed
            path = ws.store.run_folder(run_id).path(name)
            if path.is_file() and path.stat().st_size:
                rows.append((name, *ws.blobs.put_file(path)))
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

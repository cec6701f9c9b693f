"""The compute-instance agent: ``aml instance serve --host H --port P --token-file F``.

Runs on a workstation and executes runs submitted to it with the same supervisor as the
``local`` target, in a workspace folder of its own. The submitting workspace talks to it over
HTTP (JSON; TLS with ``--certfile``/``--keyfile``) and pulls everything back
(:mod:`aml_jupyter.compute.remote`): status, the run folder's growing files (driver log,
metrics, ./logs) by byte offset, then the run's stored files (./outputs) by content hash.

Every request needs ``Authorization: Bearer <token>``; the token is checked from the headers
before routing and before any body is read (:mod:`aml_jupyter.compute.instance.agent_http`), so without
it every path, known or not, answers 401 and nothing else. Hashes and names in requests and
snapshot manifests are checked before they name a file. Runs are detached from
the agent: stopping or restarting it leaves them running, and a new agent on the same folder
serves them again. A run whose supervisor died (the machine restarted) is reported Failed with
the reason by the agent's own liveness check.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import secrets
import socket
import sys
import time
from pathlib import Path
from typing import Any

from tornado.iostream import StreamClosedError

from ...errors import AmlError
from ...paths import checked_relative_name
from ...status import RunStatus
from ...store.blobs import check_sha256
from ...store.run_folder import MIRRORED, RunFolder
from ...tracking.targets import check_active_run
from ...tracking.workspace import Workspace
from ...version import __version__
from ..untrusted import BlobSink
from .agent_http import (
    MAX_BLOB_BYTES,
    SERVER_MAX_BODY,
    ApiError,
    Handler,
    TokenApplication,
)

API = "/api/v1"
#: Most bytes one sync answer carries; the submitter asks again at once when there is more.
SYNC_CHUNK_BYTES = 4 * 1024 * 1024
#: How often a long-polling sync looks for changes.
LONG_POLL_STEP_S = 0.02
#: A blob is sent back in pieces of this size, each flushed before the next is read.
BLOB_PIECE_BYTES = 1024 * 1024
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,254}")


def read_token(path: str | os.PathLike[str], create: bool = False) -> str:
    """The token in ``path``; with ``create`` a new random one is written there (mode 600)."""
    file = Path(path).expanduser()
    if not file.exists() and create:
        file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(32) + "\n")
    try:
        token = file.read_text().strip()
    except OSError as exc:
        raise AmlError(f"Cannot read the token file {str(file)!r}: {exc.strerror}.") from None
    if len(token) < 16:
        raise AmlError(
            f"The token in {str(file)!r} is shorter than 16 characters; use a long random one "
            "(delete the file and the agent writes a new one)."
        )
    return token


def _sha(value: Any, what: str) -> str:
    """``value`` if it is a sha256 hex digest, else a 400 that says so."""
    try:
        return check_sha256(value, what)
    except AmlError as exc:
        raise ApiError(400, str(exc)) from None


class _Base(Handler):
    """A route of the agent: its workspace, its runs."""

    @property
    def ws(self) -> Workspace:
        return Workspace(self.settings["aml_folder"])

    def run_row(self, run_id: str) -> Any:
        if not _RUN_ID.fullmatch(run_id):
            raise ApiError(400, f"Bad run id {run_id!r}.")
        try:
            record = self.ws.store.get_run(run_id)
        except AmlError:
            raise ApiError(
                404, f"This agent has no run {run_id!r} (its folder is {self.ws.folder})."
            ) from None
        # A supervisor that died is reported (the run Failed, saying why), not waited for.
        return check_active_run(self.ws, record)


class _Info(_Base):
    def get(self) -> None:
        self.finish(
            {
                "agent": "aml_jupyter",
                "version": __version__,
                "host": socket.gethostname(),
                "folder": str(self.ws.folder),
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
            }
        )


class _MissingBlobs(_Base):
    def post(self) -> None:
        wanted = self.body_json().get("sha256")
        if not isinstance(wanted, list):
            raise ApiError(400, "sha256 must be a list of sha256 hex digests.")
        for sha in wanted:
            _sha(sha, "blob hash")
        blobs = self.ws.blobs
        self.finish({"missing": [s for s in wanted if s not in blobs]})


class _Blob(_Base):
    """PUT streams a file to disk while hashing it (never whole in memory, the event loop free
    between pieces), kept only if it has the hash it is named by; GET streams one back."""

    def body_limit(self) -> int:
        return MAX_BLOB_BYTES if self.request.method == "PUT" else 0

    def prepare(self) -> None:
        super().prepare()
        _sha(self.path_kwargs["sha"], "blob name")
        self._sink: BlobSink | None = None
        if self.request.method == "PUT":
            self._sink = BlobSink(self.ws.blobs)  # closed in put() or on_finish()

    def data_received(self, chunk: bytes) -> None:
        if self._sink is not None:
            self._sink.write(chunk)

    def put(self, sha: str) -> None:
        assert self._sink is not None
        sink, self._sink = self._sink, None
        try:
            sink.commit(sha)  # a rename: the bytes were hashed as they came
        except AmlError as exc:
            raise ApiError(400, f"The uploaded bytes do not match their sha256 ({exc})") from None
        self.set_status(201)
        self.finish({"sha256": sha})

    async def get(self, sha: str) -> None:
        try:
            f = self.ws.blobs.open(sha)
        except FileNotFoundError:
            raise ApiError(404, f"No blob {sha}.") from None
        self.set_header("Content-Type", "application/octet-stream")
        self.set_header("Content-Length", str(os.fstat(f.fileno()).st_size))
        with f:
            while piece := f.read(BLOB_PIECE_BYTES):
                self.write(piece)
                try:
                    await self.flush()  # one piece in memory at a time, however big the blob
                except StreamClosedError:
                    return  # the client went away
        self.finish()

    def on_finish(self) -> None:
        sink, self._sink = getattr(self, "_sink", None), None
        if sink is not None:
            sink.discard()

    def on_connection_close(self) -> None:
        self.on_finish()  # an upload cut off: drop its temp file


class _Runs(_Base):
    """POST starts a run of an uploaded snapshot, with the submitter's run id; ``secrets``
    (null, or the key vault sealed for the run: :mod:`..local.sealed_secrets`) goes to the
    run's folder (the token) and its supervisor's environment (the key), never back out."""

    def post(self) -> None:
        from ...environments import build as envbuild
        from ..local.sealed_secrets import agent_supervisor_env, drop_token
        from ..local.target import start_supervisor
        from ..submission import record_run

        body = self.body_json()
        run_id, experiment = body.get("id"), body.get("experiment")
        snapshot_id, definition = body.get("snapshot_id"), body.get("definition")
        if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id):
            raise ApiError(400, "id must be a run id (letters, digits, _ . -).")
        if not isinstance(experiment, str) or not experiment:
            raise ApiError(400, "experiment must be a name.")
        snapshot_id = _sha(snapshot_id, "snapshot_id")
        if not isinstance(definition, dict):
            raise ApiError(400, "definition must be an object.")
        if not isinstance(body.get("tags") or {}, dict):
            raise ApiError(400, "tags must be an object.")
        ws = self.ws
        try:
            snapshot = _checked_snapshot(ws, snapshot_id)
            missing = [e.name for e in snapshot.files if e.sha256 not in ws.blobs]
            if missing:
                raise AmlError(f"Upload these snapshot files first: {', '.join(missing[:5])}.")
            definition = _local_definition(definition)
            if definition.get("environment"):
                envbuild.check(ws.folder, definition["environment"])
            tags = body.get("tags") or None
            folder = ws.store.run_folder(run_id)
            # The run's sealed secrets into its folder, their key to its supervisor only.
            env = agent_supervisor_env(folder, body.get("secrets"))
            try:
                supervisor = start_supervisor(ws.folder, env=env)
                record_run(
                    ws, experiment, definition, snapshot_id, "local", tags, supervisor, run_id
                )
            except BaseException:
                drop_token(folder)
                raise
        except AmlError as exc:
            raise ApiError(400, str(exc)) from None
        self.set_status(201)
        self.finish({"id": run_id, "status": RunStatus.QUEUED})


def _checked_snapshot(ws: Workspace, snapshot_id: str) -> Any:
    """The submitted snapshot, every entry's name and hash checked before any names a file."""
    from ...snapshot.snapshot import load_snapshot

    try:
        snapshot = load_snapshot(ws.blobs, snapshot_id)
        for entry in snapshot.files:
            checked_relative_name(entry.name, "snapshot file name")
            check_sha256(entry.sha256, f"hash of snapshot file {entry.name!r}")
    except (TypeError, ValueError):
        raise AmlError(
            f"Snapshot {snapshot_id} is not a snapshot manifest (a JSON list of "
            "[name, sha256, size, executable]); submit again."
        ) from None
    return snapshot


def _local_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The submitter's definition, checked, run by this machine's Python."""
    out = dict(definition)
    if out.get("command") is None and not isinstance(out.get("script"), str):
        raise AmlError("The definition needs a script or a command.")
    if not isinstance(out.get("arguments", []), list):
        raise AmlError("arguments must be a list.")
    duration = out.get("maxRunDurationSeconds")
    if not isinstance(duration, (int, float)) or duration <= 0:
        raise AmlError("maxRunDurationSeconds must be a positive number.")
    out["python"] = sys.executable
    return out


class _Sync(_Base):
    """POST ``{"offsets": {path: bytes already held}, "status": last seen, "wait": s}``: the
    run's state and what its mirrored files gained since; once the run has ended, its stored
    files (name, sha256, size) too. With ``wait`` the answer comes as soon as something changed
    (status, or a file grew), at the latest after ``wait`` seconds (at most 10): a long poll, so
    the submitter sees changes at once without asking many times a second."""

    async def post(self, run_id: str) -> None:
        body = self.body_json()
        offsets, seen, wait = body.get("offsets", {}), body.get("status"), body.get("wait", 0)
        if not isinstance(offsets, dict) or not all(
            isinstance(v, int) and v >= 0 for v in offsets.values()
        ):
            raise ApiError(400, "offsets must map file paths to byte counts.")
        if not isinstance(wait, (int, float)) or not 0 <= wait <= 10:
            raise ApiError(400, "wait must be a number of seconds from 0 to 10.")
        folder = self.ws.store.run_folder(run_id)
        deadline = time.monotonic() + wait
        while True:
            row = self.run_row(run_id)
            grown = [
                (name, size) for name, size in _folder_files(folder) if size > offsets.get(name, 0)
            ]
            if grown or row.status != seen or time.monotonic() >= deadline:
                break
            await asyncio.sleep(LONG_POLL_STEP_S)
        self.finish(self._answer(run_id, row, grown, offsets))

    def _answer(
        self, run_id: str, row: Any, grown: list[tuple[str, int]], offsets: dict[str, int]
    ) -> dict[str, Any]:
        records = self.ws.store
        folder = self.ws.store.run_folder(run_id)
        chunks: dict[str, str] = {}
        budget, more = SYNC_CHUNK_BYTES, False
        for name, size in grown:
            if budget <= 0:
                more = True
                break
            held = offsets.get(name, 0)
            with open(folder.path(name), "rb") as f:
                f.seek(held)
                data = f.read(min(size - held, budget))
            budget -= len(data)
            more = more or held + len(data) < size
            chunks[name] = base64.b64encode(data).decode()
        ended = row.status in RunStatus.TERMINAL
        return {
            "status": row.status,
            "error": dict(row.error) if row.error else None,
            "exit_code": row.exit_code,
            "tags": records.get_tags(run_id),
            "properties": records.get_properties(run_id),
            "chunks": chunks,
            "more": more,
            "files": [[f.name, f.sha256, f.size] for f in records.list_files(run_id)]
            if ended
            else None,
        }


def _folder_files(run_folder: RunFolder) -> list[tuple[str, int]]:
    """``(relative path, size)`` of every mirrored file of a run folder."""
    found = []
    root = run_folder.root
    for folder in MIRRORED:
        for dirpath, _, names in os.walk(root / folder):
            for name in sorted(names):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    found.append((path.relative_to(root).as_posix(), path.stat().st_size))
    return found


class _Cancel(_Base):
    def post(self, run_id: str) -> None:
        self.run_row(run_id)
        self.ws.get_run(run_id).cancel()  # the supervisor stops the script, as for `local`
        self.finish({"id": run_id, "status": self.ws.store.get_run(run_id).status})


class AgentApp(TokenApplication):
    """The agent's routes; the token is checked before any routing (see ``agent_http``)."""

    def __init__(self, folder: Path, token: str) -> None:
        run = r"/runs/(?P<run_id>[^/]+)"
        super().__init__(
            [
                (API + "/info", _Info),
                (API + "/blobs/missing", _MissingBlobs),
                (API + r"/blobs/(?P<sha>[^/]+)", _Blob),
                (API + "/runs", _Runs),
                (API + run + "/sync", _Sync),
                (API + run + "/cancel", _Cancel),
            ],
            token,
            aml_folder=str(folder),
        )


def serve(
    folder: str | os.PathLike[str],
    host: str,
    port: int,
    token_file: str | os.PathLike[str],
    certfile: str | None = None,
    keyfile: str | None = None,
) -> None:
    """Serve until stopped (SIGINT/SIGTERM); runs in progress go on without the agent."""
    import asyncio
    import signal
    import ssl

    from tornado.httpserver import HTTPServer

    ws = Workspace.create(Path(folder).expanduser())
    token = read_token(token_file, create=True)
    ssl_ctx = None
    if certfile:
        ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ssl_ctx.load_cert_chain(certfile, keyfile)

    async def main() -> None:
        server = HTTPServer(
            AgentApp(ws.folder, token), ssl_options=ssl_ctx, max_body_size=SERVER_MAX_BODY
        )
        try:
            server.listen(port, address=host)
        except OSError as exc:
            raise AmlError(f"Cannot listen on {host}:{port}: {exc.strerror}.") from None
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        scheme = "https" if ssl_ctx else "http"
        print(
            f"aml agent serving {ws.folder} at {scheme}://{host}:{port} (token in {token_file}).\n"
            f"Attach it from a workspace: aml compute attach NAME --address "
            f"{scheme}://{host}:{port} --token-file {token_file}",
            flush=True,
        )
        await stop.wait()
        server.stop()

    asyncio.run(main())

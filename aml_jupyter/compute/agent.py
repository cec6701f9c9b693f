"""The compute-instance agent: ``aml instance serve --host H --port P --token-file F``.

Runs on a workstation and executes runs submitted to it with the same supervisor as the
``local`` target, in a workspace folder of its own. The submitting workspace talks to it over
HTTP (JSON; TLS with ``--certfile``/``--keyfile``) and pulls everything back
(:mod:`aml_jupyter.compute.remote`): status, the run folder's growing files (driver log,
metrics, ./logs) by byte offset, then the run's stored files (./outputs) by content hash.

Every request needs ``Authorization: Bearer <token>``; the token is checked before routing,
so without it every path, known or not, answers 401 and nothing else. Runs are detached from
the agent: stopping or restarting it leaves them running, and a new agent on the same folder
serves them again. A run whose supervisor died (the machine restarted) is reported Failed with
the reason by the agent's own liveness check.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tornado import web

from .. import __version__
from ..errors import AmlError
from ..status import RunStatus
from ..workspace import Workspace
from .remote import MIRRORED_FOLDERS

API = "/api/v1"
#: Most bytes one sync answer carries; the submitter asks again at once when there is more.
SYNC_CHUNK_BYTES = 4 * 1024 * 1024
#: How often a long-polling sync looks for changes.
LONG_POLL_STEP_S = 0.02
MAX_BLOB_BYTES = 2 * 1024**3
#: Any other body (JSON); only blob uploads, once authenticated, may be larger.
MAX_JSON_BYTES = 16 * 1024 * 1024
_SHA = re.compile(r"^[0-9a-f]{64}$")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$")


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


class _ApiError(web.HTTPError):
    """An error answer: the status, and a message for the body (HTTP reason phrases are too
    restricted for messages that say what to do)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


class _Base(web.RequestHandler):
    """JSON in and out; our errors as ``{"message": ...}`` with a 4xx status."""

    @property
    def ws(self) -> Workspace:
        return Workspace(self.settings["aml_folder"])

    def check_xsrf_cookie(self) -> None:  # token auth, no cookies
        pass

    def body_json(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise _ApiError(400, "The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise _ApiError(400, "The request body must be a JSON object.")
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.message if isinstance(exc, _ApiError) else self._reason
        self.finish({"message": message, "status": status_code})

    def run_row(self, run_id: str) -> Any:
        if not _RUN_ID.match(run_id):
            raise _ApiError(400, f"Bad run id {run_id!r}.")
        records = self.ws.records
        records.reap_dead_runs(run_id)  # a supervisor that died is reported, not waited for
        try:
            return records.get_run(run_id)
        except AmlError:
            raise _ApiError(
                404, f"This agent has no run {run_id!r} (its folder is {self.ws.folder})."
            ) from None


class _Unauthorized(_Base):
    def prepare(self) -> None:
        self.set_header("WWW-Authenticate", 'Bearer realm="aml-agent"')
        raise _ApiError(401, "Missing or wrong token: send 'Authorization: Bearer <token>'.")


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
        if not isinstance(wanted, list) or not all(
            isinstance(s, str) and _SHA.match(s) for s in wanted
        ):
            raise _ApiError(400, "sha256 must be a list of sha256 hex digests.")
        blobs = self.ws.blobs
        self.finish({"missing": [s for s in wanted if s not in blobs]})


@web.stream_request_body
class _Blob(_Base):
    """PUT streams a file into the blob store, checked against its hash; GET reads one."""

    def prepare(self) -> None:
        sha = self.path_kwargs["sha"]
        if not _SHA.match(sha):
            raise _ApiError(400, "A blob is named by its sha256 hex digest.")
        self._digest = hashlib.sha256()
        self._tmp: Any = None
        if self.request.method == "PUT":
            self.request.connection.set_max_body_size(MAX_BLOB_BYTES)  # type: ignore[union-attr]
            root = self.ws.blobs.root
            root.mkdir(parents=True, exist_ok=True)
            # Closed in put() or on_finish(): the upload spans several callbacks.
            self._tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115
                dir=root, prefix=".upload-", delete=False
            )

    def data_received(self, chunk: bytes) -> None:
        if self._tmp is not None:
            self._digest.update(chunk)
            self._tmp.write(chunk)

    def put(self, sha: str) -> None:
        self._tmp.close()
        if self._digest.hexdigest() != sha:
            os.unlink(self._tmp.name)
            raise _ApiError(400, "The uploaded bytes do not match their sha256.")
        with open(self._tmp.name, "rb") as f:
            self.ws.blobs.put_stream(f)
        os.unlink(self._tmp.name)
        self.set_status(201)
        self.finish({"sha256": sha})

    def get(self, sha: str) -> None:
        path = self.ws.blobs.path(sha)
        if not path.is_file():
            raise _ApiError(404, f"No blob {sha}.")
        self.set_header("Content-Type", "application/octet-stream")
        with open(path, "rb") as f:
            while chunk := f.read(1024 * 1024):
                self.write(chunk)
        self.finish()

    def on_finish(self) -> None:
        if self._tmp is not None and os.path.exists(self._tmp.name):
            self._tmp.close()
            os.unlink(self._tmp.name)


class _Runs(_Base):
    """POST starts a run of an uploaded snapshot, with the submitter's run id."""

    def post(self) -> None:
        from ..snapshot import load_snapshot
        from . import envbuild
        from .local import record_run, start_supervisor

        body = self.body_json()
        run_id, experiment = body.get("id"), body.get("experiment")
        snapshot_id, definition = body.get("snapshot_id"), body.get("definition")
        if not isinstance(run_id, str) or not _RUN_ID.match(run_id):
            raise _ApiError(400, "id must be a run id (letters, digits, _ . -).")
        if not isinstance(experiment, str) or not experiment:
            raise _ApiError(400, "experiment must be a name.")
        if not isinstance(snapshot_id, str) or not _SHA.match(snapshot_id):
            raise _ApiError(400, "snapshot_id must be a sha256 hex digest.")
        if not isinstance(definition, dict):
            raise _ApiError(400, "definition must be an object.")
        ws = self.ws
        try:
            snapshot = load_snapshot(ws, snapshot_id)
            missing = [e.name for e in snapshot.files if e.sha256 not in ws.blobs]
            if missing:
                raise AmlError(f"Upload these snapshot files first: {', '.join(missing[:5])}.")
            definition = _local_definition(definition)
            if definition.get("environment"):
                envbuild.check(ws.folder, definition["environment"])
            tags = body.get("tags") or None
            supervisor = start_supervisor(ws.folder)
            record_run(ws, experiment, definition, snapshot_id, "local", tags, supervisor, run_id)
        except AmlError as exc:
            raise _ApiError(400, str(exc)) from None
        self.set_status(201)
        self.finish({"id": run_id, "status": RunStatus.QUEUED})


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
            raise _ApiError(400, "offsets must map file paths to byte counts.")
        if not isinstance(wait, (int, float)) or not 0 <= wait <= 10:
            raise _ApiError(400, "wait must be a number of seconds from 0 to 10.")
        run_dir = self.ws.run_dir(run_id)
        deadline = time.monotonic() + wait
        while True:
            row = self.run_row(run_id)
            grown = [
                (name, size) for name, size in _folder_files(run_dir) if size > offsets.get(name, 0)
            ]
            if grown or row["status"] != seen or time.monotonic() >= deadline:
                break
            await asyncio.sleep(LONG_POLL_STEP_S)
        self.finish(self._answer(run_id, row, grown, offsets))

    def _answer(
        self, run_id: str, row: Any, grown: list[tuple[str, int]], offsets: dict[str, int]
    ) -> dict[str, Any]:
        records = self.ws.records
        run_dir = self.ws.run_dir(run_id)
        chunks: dict[str, str] = {}
        budget, more = SYNC_CHUNK_BYTES, False
        for name, size in grown:
            if budget <= 0:
                more = True
                break
            held = offsets.get(name, 0)
            with open(run_dir / name, "rb") as f:
                f.seek(held)
                data = f.read(min(size - held, budget))
            budget -= len(data)
            more = more or held + len(data) < size
            chunks[name] = base64.b64encode(data).decode()
        ended = row["status"] in RunStatus.TERMINAL
        return {
            "status": row["status"],
            "error": json.loads(row["error"]) if row["error"] else None,
            "exit_code": row["exit_code"],
            "tags": records.get_tags(run_id),
            "properties": records.get_properties(run_id),
            "chunks": chunks,
            "more": more,
            "files": [list(f) for f in records.list_files(run_id)] if ended else None,
        }


def _folder_files(run_dir: Path) -> list[tuple[str, int]]:
    """``(relative path, size)`` of every mirrored file of a run folder."""
    found = []
    for folder in MIRRORED_FOLDERS:
        for dirpath, _, names in os.walk(run_dir / folder):
            for name in sorted(names):
                path = Path(dirpath) / name
                if path.is_file() and not path.is_symlink():
                    found.append((path.relative_to(run_dir).as_posix(), path.stat().st_size))
    return found


class _Cancel(_Base):
    def post(self, run_id: str) -> None:
        self.run_row(run_id)
        self.ws.get_run(run_id).cancel()  # the supervisor stops the script, as for `local`
        self.finish({"id": run_id, "status": self.ws.records.get_run(run_id)["status"]})


class AgentApp(web.Application):
    """The agent's routes; :meth:`find_handler` checks the token before any routing."""

    def __init__(self, folder: Path, token: str) -> None:
        self._token = token.encode()
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
            aml_folder=str(folder),
            default_handler_class=_NotFound,
        )

    def _authorized(self, request: Any) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        )

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        if not self._authorized(request):
            return self.get_handler_delegate(request, _Unauthorized)
        return super().find_handler(request, **kwargs)


class _NotFound(_Base):
    def prepare(self) -> None:
        raise _ApiError(404, f"No such route: {self.request.path}.")


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
            AgentApp(ws.folder, token), ssl_options=ssl_ctx, max_body_size=MAX_JSON_BYTES
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

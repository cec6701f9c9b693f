"""The ``compute-instance`` target: a workstation running ``aml instance serve``.

``ComputeInstance.attach(ws, "gpu-box", "http://10.0.0.5:8790", token)`` (or
``aml compute attach gpu-box --address ... --token-file ...``) checks the agent answers and
registers it; then ``ScriptRunConfig(compute_target="gpu-box")`` or ``%aml_submit -t gpu-box``
runs there. Submitting uploads only the snapshot files the agent lacks (content-addressed),
starts the run under the same id on the agent, and starts a detached mirror here
(:mod:`aml_jupyter.compute.remote`) that pulls status, logs, metrics and outputs back.
Nothing the agent answers is trusted: names, hashes and states are checked
(:mod:`aml_jupyter.compute.untrusted`) and a blob is kept only if its bytes have its hash.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...store.blobs import check_sha256
from .. import ComputeTarget, check_target_name
from ..remote import (
    MIRRORED_FOLDERS,
    RemoteGone,
    RemoteState,
    RemoteUnreachable,
    append_chunk,
    local_sizes,
)
from ..untrusted import BlobSink, checked_files, checked_state

if TYPE_CHECKING:
    from ...tracking.experiment import Experiment
    from ...tracking.run import Run
    from ...tracking.workspace import Workspace
    from ..config import ScriptRunConfig

KIND = "ComputeInstance"
#: Longest wait of one sync: the agent answers sooner when anything changed.
LONG_POLL_S = 1.0
#: Most bytes of one JSON answer (a sync carries at most 4 MB of file bytes, base64).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Hashes asked about per /blobs/missing request (the agent takes 1 MB of JSON).
MISSING_BATCH = 4096


class AgentClient:
    """The agent's HTTP API, over the standard library (JSON, a bearer token, optional TLS)."""

    def __init__(
        self, address: str, token: str, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.address = check_address(address)
        self._token = token
        self._timeout = timeout
        self._ssl = ssl.create_default_context(cafile=ca_file) if ca_file else None

    def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        data: Any = None,
        length: int | None = None,
        sink: BlobSink | None = None,
    ) -> bytes:
        """One request; the answer's bytes, or with ``sink`` streamed into it (at most its
        ``limit``): never more than :data:`MAX_ANSWER_BYTES` held in memory."""
        headers = {"Authorization": f"Bearer {self._token}"}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if length is not None:
            headers["Content-Length"] = str(length)
        request = urllib.request.Request(
            f"{self.address}/api/v1{path}", data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout, context=self._ssl) as r:
                if sink is not None:
                    while piece := r.read(1024 * 1024):
                        sink.write(piece)  # refuses more than the announced size
                    return b""
                answer = bytes(r.read(MAX_ANSWER_BYTES + 1))
        except urllib.error.HTTPError as exc:
            message = _message(exc)
            if exc.code == 401:
                raise RemoteGone(
                    f"The agent at {self.address} refused the token ({message}). Attach it "
                    "again with the token from its --token-file."
                ) from None
            if exc.code == 404:
                raise RemoteGone(f"The agent at {self.address}: {message}") from None
            if exc.code >= 500:
                raise RemoteUnreachable(f"the agent answered {exc.code}: {message}") from None
            raise AmlError(f"The agent at {self.address} refused the request: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RemoteUnreachable(
                f"the agent at {self.address} does not answer ({reason}). Is "
                "`aml instance serve` running there, and the address right?"
            ) from None
        if len(answer) > MAX_ANSWER_BYTES:
            raise RemoteGone(
                f"The agent at {self.address} sent an answer over {MAX_ANSWER_BYTES} bytes; "
                "refused."
            )
        return answer

    def _json(self, method: str, path: str, body: Any = None) -> Any:
        try:
            answer = json.loads(self._call(method, path, body=body))
        except ValueError:
            raise RemoteGone(f"The agent at {self.address} answered {path} with no JSON.") from None
        if not isinstance(answer, dict):
            raise RemoteGone(f"The agent at {self.address} answered {path} with no JSON object.")
        return answer

    def info(self) -> dict[str, Any]:
        """Who the agent is (version, host, folder, Python, CPUs); checks address and token."""
        return dict(self._json("GET", "/info"))

    def upload(self, ws: Workspace, shas: list[str]) -> int:
        """Send the blobs the agent lacks; returns how many were sent."""
        asked = sorted(set(shas))
        missing: list[str] = []
        for start in range(0, len(asked), MISSING_BATCH):
            batch = asked[start : start + MISSING_BATCH]
            answer = self._json("POST", "/blobs/missing", {"sha256": batch}).get("missing")
            offered = set(batch)  # a blob is sent for no other hash
            if not isinstance(answer, list) or not all(
                isinstance(s, str) and s in offered for s in answer
            ):
                raise RemoteGone(
                    f"The agent at {self.address} asked for blobs it was not offered; refused."
                )
            missing += answer
        for sha in missing:
            path = ws.blobs.path(sha)
            with open(path, "rb") as f:
                self._call("PUT", f"/blobs/{sha}", data=f, length=path.stat().st_size)
        return len(missing)

    def download(self, ws: Workspace, sha: str, size: int | None = None) -> None:
        """Fetch one blob (of ``size`` bytes at most) into the workspace's store, streamed to
        disk and kept only if its bytes have the hash ``sha``."""
        check_sha256(sha, "blob hash")
        sink = BlobSink(ws.blobs, limit=size)
        try:
            self._call("GET", f"/blobs/{sha}", sink=sink)
            sink.commit(sha)
        except AmlError as exc:
            sink.discard()
            if isinstance(exc, RemoteUnreachable):
                raise
            raise AmlError(f"The agent at {self.address} sent a bad blob {sha}: {exc}") from None
        except BaseException:
            sink.discard()
            raise

    def start_run(
        self, run_id: str, experiment: str, snapshot_id: str, definition: Any, tags: Any
    ) -> None:
        """Start a run of an uploaded snapshot on the agent, under our run id."""
        body = {
            "id": run_id,
            "experiment": experiment,
            "snapshot_id": snapshot_id,
            "definition": definition,
            "tags": tags or {},
        }
        self._json("POST", "/runs", body)

    def sync(
        self, run_id: str, offsets: dict[str, int], seen: str | None = None, wait: float = 0
    ) -> dict[str, Any]:
        """The run's state and the bytes its mirrored files gained past ``offsets``; with
        ``wait``, the agent answers once something differs from that and ``seen`` status."""
        body = {"offsets": offsets, "status": seen, "wait": wait}
        return dict(self._json("POST", f"/runs/{run_id}/sync", body))

    def cancel(self, run_id: str) -> None:
        """Ask the agent to cancel the run."""
        self._json("POST", f"/runs/{run_id}/cancel", {})


def _message(exc: urllib.error.HTTPError) -> str:
    try:
        return str(json.loads(exc.read()).get("message") or exc.reason)
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)


def check_address(address: Any) -> str:
    """An agent address: ``http(s)://host:port`` with nothing after it."""
    parsed = urllib.parse.urlsplit(str(address).strip())
    if (
        parsed.scheme not in ("http", "https")
        or not parsed.hostname
        or parsed.path not in ("", "/")
        or parsed.query
    ):
        raise AmlError(
            f"The agent address {address!r} is not of the form http(s)://HOST:PORT "
            "(what `aml instance serve` prints)."
        )
    return f"{parsed.scheme}://{parsed.netloc}"


class _AgentRemote:
    """:class:`~aml_jupyter.compute.remote.Remote` for a run on an agent."""

    def __init__(self, client: AgentClient, run_id: str, target: str) -> None:
        self.client = client
        self.run_id = run_id
        self.where = f"compute instance {target!r} ({client.address})"
        self.pause = 0.0  # sync long-polls
        self._files: list[tuple[str, str, int]] = []
        self._seen: str | None = None

    def sync(self, run_dir: Path) -> RemoteState:
        wait = LONG_POLL_S  # the agent answers at once when anything changed
        while True:
            answer = self.client.sync(
                self.run_id, local_sizes(run_dir, MIRRORED_FOLDERS), self._seen, wait
            )
            state = checked_state(answer, self.where)
            chunks = answer.get("chunks")
            if not isinstance(chunks, dict):
                raise RemoteGone(f"The {self.where} sent file bytes that are not an object.")
            for name, data in chunks.items():
                append_chunk(run_dir, name, self._decoded(name, data), MIRRORED_FOLDERS, self.where)
            self._seen = state.status
            if not answer.get("more"):
                break
            wait = 0
        files = answer.get("files")
        self._files = checked_files(files, self.where) if files is not None else []
        return state

    def _decoded(self, name: Any, data: Any) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RemoteGone(
                f"The {self.where} sent bytes for {name!r} that are not base64."
            ) from None

    def cancel(self) -> None:
        self.client.cancel(self.run_id)

    def collect(self, ws: Workspace, run_id: str) -> None:
        rows = []
        for name, sha, size in self._files:  # checked in sync()
            if sha not in ws.blobs:
                self.client.download(ws, sha, size)
            rows.append((name, sha, ws.blobs.path(sha).stat().st_size))
        ws.records.add_files(run_id, rows)


class ComputeInstance(ComputeTarget):
    """A workstation running ``aml instance serve``, attached to this workspace."""

    @staticmethod
    def attach(
        workspace: Workspace,
        name: str,
        address: str,
        token: str,
        ca_file: str | None = None,
    ) -> ComputeInstance:
        """Check the agent at ``address`` answers with ``token``, then register it as ``name``.

        The token is kept in the workspace folder (mode 600), not in its database.
        """
        check_target_name(name)
        client = AgentClient(address, token, ca_file, timeout=10.0)
        try:
            client.info()
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot attach {name!r}: {exc}") from None
        secret = workspace.folder / "compute" / f"{name}.token"
        secret.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        config = {"address": client.address, "ca_file": ca_file}
        workspace.records.attach_compute_target(name, KIND, config)
        return ComputeInstance(workspace, name)

    def client(self, timeout: float = 30.0) -> AgentClient:
        """An HTTP client for this instance's agent."""
        secret = self.workspace.folder / "compute" / f"{self.name}.token"
        try:
            token = secret.read_text().strip()
        except OSError:
            raise AmlError(
                f"The token of compute target {self.name!r} is missing ({secret}); attach it again."
            ) from None
        return AgentClient(self.config["address"], token, self.config.get("ca_file"), timeout)

    def get_status(self) -> str:
        """``Running`` when the agent answers, else ``Unreachable``."""
        try:
            self.client(timeout=3.0).info()
        except AmlError:
            return "Unreachable"
        return "Running"

    def get(self) -> dict[str, Any]:
        """What the agent says about itself (version, host, folder, Python, CPUs)."""
        return self.client().info()

    def submit(
        self, experiment: Experiment, config: ScriptRunConfig, tags: dict[str, Any] | None = None
    ) -> Run:
        """Upload the snapshot's new files, start the run on the agent, follow it from here."""
        from ...snapshot.git import git_properties
        from ...snapshot.snapshot import take_snapshot
        from ...store.records import new_run_id
        from ...tracking.run import Run
        from ..local.target import hand_off, record_run, run_definition, start_supervisor

        ws = experiment.workspace
        definition = run_definition(ws, config)
        client = self.client()
        try:
            client.info()
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None
        snapshot = take_snapshot(
            ws,
            definition["sourceDirectory"],
            extra_files=config.extra_files,
            max_bytes=config.snapshot_max_bytes,
            max_files=config.snapshot_max_files,
        )
        client.upload(ws, [snapshot.id, *(f.sha256 for f in snapshot.files)])
        run_id = new_run_id(experiment.name)
        mirror = start_supervisor(ws.folder, module="aml_jupyter.compute.remote")
        try:
            client.start_run(run_id, experiment.name, snapshot.id, definition, tags)
        except BaseException as exc:
            hand_off(mirror, None)
            if isinstance(exc, (RemoteGone, RemoteUnreachable)):
                raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None
            raise
        record_run(ws, experiment.name, definition, snapshot.id, self.name, tags, mirror, run_id)
        ws.records.add_properties(run_id, git_properties(definition["sourceDirectory"]))
        return Run(experiment, run_id)

    def _remote(self, run_id: str) -> _AgentRemote:
        return _AgentRemote(self.client(), run_id, self.name)


__all__ = ["AgentClient", "ComputeInstance"]

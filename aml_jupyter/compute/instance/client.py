"""The client of a compute-instance agent's HTTP API (JSON, a bearer token, optional TLS).

One :class:`AgentClient` per target object: its connections are kept alive and reused by
every request (a small pool of idle ``http.client`` connections under a lock, so threads may
share a client), where a new connection per request would cost a TCP (and TLS) handshake
each time. The standard library's ``http.client`` rather than urllib3 (or requests): the
run's mirror is a process of its own that imports this on its way to following the run:
with urllib3 this module cost it ~85 ms of ~165 ms (urllib3's modules, ``importlib.metadata``
for its HTTP/2 probe), with ``http.client`` ~35 ms of ~115 ms (``email.parser`` and ``ssl``,
which ``http.client`` imports itself: so ``ssl`` is not put off to https addresses).
Every failure becomes one of three errors: :class:`RemoteUnreachable` (no answer, or 5xx:
try again), :class:`RemoteGone` (the agent refuses us or has no such thing), or
:class:`AmlError` (a request the agent refused); none of them carries the token. A request
once sent is never sent again (a POST /runs must not start two runs).
"""

from __future__ import annotations

import hashlib
import http.client
import json
import urllib.parse
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...store.blobs import check_sha256
from ..remote import RemoteGone, RemoteUnreachable
from ..untrusted import BlobSink
from .agent_connections import Connections

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

#: Most bytes of one JSON answer (a sync carries at most 4 MB of file bytes, base64).
MAX_ANSWER_BYTES = 64 * 1024 * 1024
#: Most bytes of an error answer read for its message.
MAX_ERROR_BYTES = 64 * 1024
#: Hashes asked about per /blobs/missing request (the agent takes 1 MB of JSON).
MISSING_BATCH = 4096
#: Bytes read from the answer at a time.
PIECE_BYTES = 1024 * 1024


class AgentClient:
    """The agent's HTTP API; see the module docstring. ``timeout``: seconds to connect, and
    to wait for each piece of an answer."""

    def __init__(
        self, address: str, token: str, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.address = check_address(address)
        self._timeout = timeout
        self._connections = Connections(self.address, token, ca_file)

    def with_timeout(self, timeout: float) -> AgentClient:
        """This client with another timeout, sharing its connections."""
        other = object.__new__(AgentClient)
        other.__dict__.update(self.__dict__, _timeout=timeout)
        return other

    def close(self) -> None:
        """Close the kept-alive connections (a later request opens one again)."""
        self._connections.close()

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
        connections = self._connections
        headers = dict(connections.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if length is not None:
            headers["Content-Length"] = str(length)
        conn: http.client.HTTPConnection | None = None
        answer: http.client.HTTPResponse | None = None
        refusal: AmlError | None = None
        got = b""
        try:
            conn = connections.take(self._timeout)
            cut = False
            try:
                # No redirect is followed: the token goes to the attached address only.
                conn.request(method, connections.prefix + path, body=data, headers=headers)
            except (BrokenPipeError, ConnectionResetError):
                cut = True  # the agent may have refused before reading all of it: its answer
            answer = conn.getresponse()
            if not 200 <= answer.status < 300:
                refusal = self._refused(answer)
            elif sink is not None:
                for piece in _pieces(answer):
                    sink.write(piece)  # refuses more than the announced size
            else:
                got = _read(answer, MAX_ANSWER_BYTES + 1)
            # Read to its end, kept alive by the agent: the connection serves the next request.
            if answer.isclosed() and answer.version == 11 and not answer.will_close and not cut:
                connections.give_back(conn)
                conn = None
        except (http.client.HTTPException, OSError) as exc:
            raise RemoteUnreachable(
                f"the agent at {self.address} does not answer ({_reason(exc)}). Is "
                "`aml instance serve` running there, and the address right?"
            ) from None
        finally:
            if conn is not None:  # cut off, failed, or not to be kept: closed with its answer
                if answer is not None:
                    answer.close()
                conn.close()
        if refusal is not None:
            raise refusal
        if len(got) > MAX_ANSWER_BYTES:
            raise RemoteGone(
                f"The agent at {self.address} sent an answer over {MAX_ANSWER_BYTES} bytes; "
                "refused."
            )
        return got

    def _refused(self, answer: http.client.HTTPResponse) -> AmlError:
        """The error for an answer that is not a success."""
        code, message = answer.status, _message(answer)
        if code == 401:
            return RemoteGone(
                f"The agent at {self.address} refused the token ({message}). Attach it "
                "again with the token from its --token-file."
            )
        if code == 404:
            return RemoteGone(f"The agent at {self.address}: {message}")
        if code >= 500:
            return RemoteUnreachable(f"the agent answered {code}: {message}")
        return AmlError(f"The agent at {self.address} refused the request: {message}")

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

    def upload(
        self, ws: Workspace, shas: list[str], progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Send the blobs the agent lacks; returns how many were sent. ``progress(sent,
        total)`` hears how many of the bytes to send have gone, as they go."""
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
        sizes = {sha: ws.blobs.size(sha) for sha in missing}
        total, done = sum(sizes.values()), 0
        for sha in missing:
            with ws.blobs.open(sha) as f:
                body: Any = f if progress is None else _Counted(f, done, total, progress)
                self._call("PUT", f"/blobs/{sha}", data=body, length=sizes[sha])
            done += sizes[sha]
        if progress is not None:
            progress(done, total)
        return len(missing)

    def put_bytes(self, data: bytes) -> str:
        """Send ``data`` as a blob from memory (nothing written here); its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        self._call("PUT", f"/blobs/{sha}", data=data, length=len(data))
        return sha

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
        self,
        run_id: str,
        experiment: str,
        snapshot_id: str,
        definition: Any,
        tags: Any,
        secrets: dict[str, str] | None = None,
    ) -> None:
        """Start a run of an uploaded snapshot on the agent, under our run id (``secrets``:
        the workspace's, sealed for the run, see :mod:`..local.sealed_secrets`)."""
        body = {
            "id": run_id,
            "experiment": experiment,
            "snapshot_id": snapshot_id,
            "definition": definition,
            "tags": tags or {},
            "secrets": secrets,
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


def _pieces(answer: http.client.HTTPResponse) -> Iterator[bytes]:
    """The answer's body in pieces of :data:`PIECE_BYTES` at most, as sent (not decompressed);
    one cut short of its Content-Length is an error (http.client would just end it)."""
    while piece := answer.read(PIECE_BYTES):
        yield piece
    if answer.length:
        raise http.client.IncompleteRead(b"", answer.length)


class _Counted:
    """A blob being sent, telling ``progress`` how far the upload is as it is read."""

    def __init__(self, f: Any, before: int, total: int, progress: Callable[[int, int], None]):
        self.f, self.sent, self.total, self.progress = f, before, total, progress

    def read(self, n: int = -1) -> bytes:
        data = self.f.read(n)
        self.sent += len(data)
        self.progress(self.sent, self.total)
        return bytes(data)


def _read(answer: http.client.HTTPResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer's body.

    An answer read to its end can give its connection back for the next request; one cut off
    at ``limit`` is left unfinished, and its connection is closed.
    """
    got = bytearray()
    for piece in _pieces(answer):
        got += piece
        if len(got) >= limit:
            return bytes(got[:limit])
    return bytes(got)


def _message(answer: http.client.HTTPResponse) -> str:
    """The ``message`` of an error answer, else its reason phrase."""
    try:
        return str(json.loads(_read(answer, MAX_ERROR_BYTES)).get("message") or answer.reason)
    except (ValueError, AttributeError, OSError, http.client.HTTPException):
        return str(answer.reason)


def _reason(exc: BaseException) -> str:
    """What went wrong: the socket's or TLS's own error ("timed out", "Connection refused",
    "certificate verify failed: ..."), looked for under any wrapper."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    seen: set[int] = set()
    while id(exc) not in seen:
        seen.add(id(exc))
        inner = getattr(exc, "reason", None)
        if not isinstance(inner, BaseException):
            inner = exc.__cause__ or next(
                (a for a in exc.args if isinstance(a, BaseException)), None
            )
        if inner is None:
            break
        exc = inner
    return str(exc)


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

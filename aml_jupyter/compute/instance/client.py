"""The client of a compute-instance agent's HTTP API (JSON, a bearer token, optional TLS).

One :class:`AgentClient` per target object: its connections are kept alive and reused by
every request (a ``urllib3.PoolManager``, thread-safe, so threads may share a client), where
a new connection per request would cost a TCP (and TLS) handshake each time. urllib3 rather
than requests on top of it: the run's mirror is a process of its own that imports this on
its way to following the run, and requests costs it ~70 ms more to import than it saves.
Every failure becomes one of three errors: :class:`RemoteUnreachable` (no answer, or 5xx:
try again), :class:`RemoteGone` (the agent refuses us or has no such thing), or
:class:`AmlError` (a request the agent refused); none of them carries the token.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.parse
from typing import TYPE_CHECKING, Any

import urllib3

from ...errors import AmlError
from ...store.blobs import check_sha256
from ..remote import RemoteGone, RemoteUnreachable
from ..untrusted import BlobSink

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


def _proxy_for(address: str) -> str | None:
    """The proxy for this address ($HTTP(S)_PROXY unless $NO_PROXY says otherwise), looked
    up once; nothing else comes from the environment (no ~/.netrc, no CA bundle)."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None  # the usual case: no need to import urllib.request (~25 ms, in the mirror)
    import urllib.request

    parsed = urllib.parse.urlsplit(address)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parsed.scheme)
    if not proxy or urllib.request.proxy_bypass_environment(parsed.netloc, proxies):  # type: ignore[attr-defined]
        return None
    return proxy


class _Connections:
    """The kept-alive connections to one agent address (a pool, shared by threads)."""

    def __init__(self, address: str, token: str, ca_file: str | None) -> None:
        # The agent never compresses: its bytes arrive as sent, and are counted so.
        headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        options: dict[str, Any] = {"headers": headers, "retries": False}
        if address.startswith("https:"):
            # The agent's certificate is checked against the attached CA file alone, else
            # the system's CAs (never a bundle found in the environment).
            options["ssl_context"] = ssl.create_default_context(cafile=ca_file)
        proxy = _proxy_for(address)
        self.pool: urllib3.PoolManager = (
            urllib3.ProxyManager(proxy, **options) if proxy else urllib3.PoolManager(**options)
        )

    def close(self) -> None:
        self.pool.clear()


class AgentClient:
    """The agent's HTTP API; see the module docstring. ``timeout``: seconds to connect, and
    to wait for each piece of an answer."""

    def __init__(
        self, address: str, token: str, ca_file: str | None = None, timeout: float = 30.0
    ) -> None:
        self.address = check_address(address)
        self._timeout = timeout
        self._connections = _Connections(self.address, token, ca_file)

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
        headers = {}
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if length is not None:
            headers["Content-Length"] = str(length)
        try:
            answer = self._connections.pool.request(
                method,
                f"{self.address}/api/v1{path}",
                body=data,
                headers={**self._connections.pool.headers, **headers},
                timeout=urllib3.Timeout(connect=self._timeout, read=self._timeout),
                redirect=False,  # the token goes to the attached address only
                preload_content=False,
                decode_content=False,
            )
            with answer:
                if not 200 <= answer.status < 300:
                    raise self._refused(answer)
                if sink is not None:
                    for piece in answer.stream(PIECE_BYTES, decode_content=False):
                        sink.write(piece)  # refuses more than the announced size
                    answer.release_conn()  # read to its end: the connection is reusable
                    return b""
                got = _read(answer, MAX_ANSWER_BYTES + 1)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise RemoteUnreachable(
                f"the agent at {self.address} does not answer ({_reason(exc)}). Is "
                "`aml instance serve` running there, and the address right?"
            ) from None
        if len(got) > MAX_ANSWER_BYTES:
            raise RemoteGone(
                f"The agent at {self.address} sent an answer over {MAX_ANSWER_BYTES} bytes; "
                "refused."
            )
        return got

    def _refused(self, answer: urllib3.BaseHTTPResponse) -> AmlError:
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
            with ws.blobs.open(sha) as f:
                self._call("PUT", f"/blobs/{sha}", data=f, length=ws.blobs.size(sha))
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


def _read(answer: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    """At most ``limit`` bytes of the answer's body, as sent (not decompressed).

    An answer read to its end gives its connection back for the next request; one cut off
    at ``limit`` leaves it to be closed with the answer.
    """
    got = bytearray()
    for piece in answer.stream(PIECE_BYTES, decode_content=False):
        got += piece
        if len(got) >= limit:
            return bytes(got[:limit])
    answer.release_conn()
    return bytes(got)


def _message(answer: urllib3.BaseHTTPResponse) -> str:
    """The ``message`` of an error answer, else its reason phrase."""
    try:
        return str(json.loads(_read(answer, MAX_ERROR_BYTES)).get("message") or answer.reason)
    except (ValueError, AttributeError, OSError, urllib3.exceptions.HTTPError):
        return str(answer.reason)


def _reason(exc: BaseException) -> str:
    """What went wrong underneath urllib3's wrappers: the socket's or TLS's own error."""
    if isinstance(exc, (urllib3.exceptions.TimeoutError, TimeoutError)):
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

"""Ray's job-submission API over plain HTTP: no ``import ray`` on the submitting side.

Ray Jobs is a REST API on the cluster's dashboard (what ``ray.job_submission`` itself calls
with ``requests``): ``POST /api/jobs/`` submits, ``GET /api/jobs/{id}`` (``/logs``) reads,
``POST .../stop`` and ``DELETE`` end and forget a job; ``GET``/``PUT /api/packages/gcs/NAME``
check and upload a ``working_dir`` or ``py_modules`` zip. Ray's client costs ~7 s of imports
in a fresh process; this one (``http.client``) a few milliseconds, with one kept-alive
connection. A cluster with token authentication gets ``$RAY_AUTH_TOKEN`` as a bearer token.

Errors: :class:`RemoteUnreachable` (no answer, or a 5xx on a read: try again),
:class:`RemoteGone` (the cluster refuses our token), :class:`RayRefused` (a request Ray
refused, with the last line of Ray's own message).
"""

from __future__ import annotations

import http.client
import json
import os
import threading
import urllib.parse
from pathlib import Path
from typing import Any

from ...errors import AmlError
from ..keepalive import connection_usable
from ..remote import RemoteGone, RemoteUnreachable

#: Most bytes of one answer held in memory (a job's whole log comes in one).
MAX_ANSWER_BYTES = 512 * 1024 * 1024
SEND_BYTES = 256 * 1024
_JOB_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")


class RayRefused(AmlError):
    """Ray answered, and refused the request (a bad job, a job that does not exist...)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def check_address(address: Any) -> str:
    """A job-submission address: ``http(s)://host:port`` (the dashboard), no trailing slash."""
    text = str(address).strip().rstrip("/")
    parsed = urllib.parse.urlsplit(text)
    try:
        port_ok = parsed.port is None or 0 < parsed.port < 65536
    except ValueError:
        port_ok = False
    if parsed.scheme not in ("http", "https") or not parsed.hostname or not port_ok:
        raise AmlError(
            f"The Ray address {address!r} must be the job-submission URL, e.g. "
            "http://127.0.0.1:8265."
        )
    return text


def _last_line(text: str) -> str:
    """Ray answers an error with a traceback: its last line says what went wrong."""
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    line = lines[-1] if lines else "no message"
    return line if len(line) <= 400 else line[:400] + "..."


class RayJobs:
    """The job-submission API of one Ray cluster (thread-safe; one connection kept alive)."""

    def __init__(self, address: str, timeout: float = 30.0) -> None:
        self.address = check_address(address)
        parsed = urllib.parse.urlsplit(self.address)
        self._https = parsed.scheme == "https"
        self._host = parsed.hostname or ""
        self._port = parsed.port or (443 if self._https else 80)
        self._base = parsed.path  # a dashboard behind a path prefix keeps it
        self.timeout = timeout
        self.headers = {"Accept-Encoding": "identity"}
        token = os.environ.get("RAY_AUTH_TOKEN", "").strip()
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self._conn: http.client.HTTPConnection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        """The kept-alive connection if still usable (and True), else a new one."""
        conn, self._conn = self._conn, None
        if conn is not None and conn.sock is not None and connection_usable(conn.sock):
            conn.sock.settimeout(self.timeout)
            return conn, True
        if conn is not None:
            conn.close()
        if self._https:
            import ssl

            return http.client.HTTPSConnection(
                self._host,
                self._port,
                timeout=self.timeout,
                context=ssl.create_default_context(),
                blocksize=SEND_BYTES,
            ), False
        return http.client.HTTPConnection(
            self._host, self._port, timeout=self.timeout, blocksize=SEND_BYTES
        ), False

    def call(
        self, method: str, path: str, body: Any = None, data: Any = None, length: int = 0
    ) -> tuple[int, bytes]:
        """One request: ``(status, answer bytes)``. A reused connection the server had closed
        is retried once on a new one, unless the request was a POST (never sent twice)."""
        headers = dict(self.headers)
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if data is not None:
            headers["Content-Length"] = str(length or len(data))
        with self._lock:
            for attempt in (0, 1):
                conn, reused = self._connection()
                try:
                    conn.request(method, self._base + path, body=data, headers=headers)
                    answer = conn.getresponse()
                    got = answer.read(MAX_ANSWER_BYTES + 1)
                except (http.client.HTTPException, OSError) as exc:
                    conn.close()
                    stale = isinstance(
                        exc, (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)
                    )
                    if attempt == 0 and reused and stale and method != "POST":
                        if hasattr(data, "seek"):
                            data.seek(0)
                        continue
                    raise RemoteUnreachable(
                        f"the Ray cluster at {self.address} does not answer ({_reason(exc)}). "
                        "Start one with `ray start --head --dashboard-host 127.0.0.1` or check "
                        "the address (the job-submission URL, port 8265 by default)."
                    ) from None
                if len(got) > MAX_ANSWER_BYTES:
                    conn.close()
                    raise RemoteGone(
                        f"The Ray cluster at {self.address} sent an answer over "
                        f"{MAX_ANSWER_BYTES} bytes; refused."
                    )
                if answer.will_close:
                    conn.close()
                else:
                    self._conn = conn
                break
        if answer.status in (401, 403):
            raise RemoteGone(
                f"The Ray cluster at {self.address} refused us (HTTP {answer.status}: "
                f"{_last_line(got.decode(errors='replace'))}). It has token authentication: "
                "set RAY_AUTH_TOKEN to its token."
            )
        return answer.status, got

    def _json(self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        status, got = self.call(method, path, body=body)
        if status not in ok:
            message = _last_line(got.decode(errors="replace"))
            if status >= 500 and method == "GET":
                raise RemoteUnreachable(f"the Ray cluster answered {status}: {message}")
            raise RayRefused(status, message)
        try:
            return json.loads(got)
        except ValueError:
            raise RemoteGone(
                f"{self.address} answered {path} with no JSON: is it a Ray dashboard?"
            ) from None

    # -- the cluster ----------------------------------------------------------------------

    def version(self) -> str:
        """The cluster's Ray version; checks that the address is a Ray dashboard."""
        try:
            answer = self._json("GET", "/api/version")
        except RayRefused as exc:
            raise RemoteUnreachable(
                f"{self.address} answers, but not as a Ray dashboard (HTTP {exc.status} for "
                "/api/version): check the address (the job-submission URL, port 8265 by default)."
            ) from None
        if not isinstance(answer, dict) or not isinstance(answer.get("ray_version"), str):
            raise RemoteUnreachable(f"{self.address} answers, but not as a Ray dashboard.")
        return str(answer["ray_version"])

    def resources(self) -> dict[str, Any]:
        """What the cluster has (the autoscaler's report, refreshed every second or so):
        ``{"total": {name: n}, "used": {...}, "nodes": [{name: n}], "free_by_node": [{name:
        n}], "waiting": bool}``; names as the dashboard spells them (camel-cased), ``waiting``
        when some request (a job's, a placement group's) waits for resources."""
        answer = _mapping(self._json("GET", "/api/cluster_status"))
        status = _mapping(_mapping(answer.get("data")).get("clusterStatus"))
        report = _mapping(status.get("loadMetricsReport"))
        total, used = _usage(report.get("usage"))
        kinds = report.get("nodeTypes")
        nodes = [
            _numbers(kind[0])
            for kind in (kinds if isinstance(kinds, list) else [])
            if isinstance(kind, list) and kind and isinstance(kind[0], dict)
            for _ in range(_count(kind[1]) if len(kind) > 1 else 1)
        ]
        free_by_node = []
        for usage in _mapping(report.get("usageByNode")).values():
            node_total, node_used = _usage(usage)
            free_by_node.append({k: node_total[k] - node_used.get(k, 0.0) for k in node_total})
        waiting = bool(report.get("resourceDemand") or report.get("pgDemand"))
        return {
            "total": total,
            "used": used,
            "nodes": nodes,
            "free_by_node": free_by_node,
            "waiting": waiting,
        }

    def node(self, node_id: str) -> dict[str, Any] | None:
        """One node as Ray's state API has it (``node_id``, ``node_ip``, ``state``: ``ALIVE``
        or ``DEAD``), None if Ray does not know it."""
        query = urllib.parse.urlencode(
            {"filter_keys": "node_id", "filter_predicates": "=", "filter_values": node_id}
        )
        answer = self._json("GET", f"/api/v0/nodes?{query}")
        data = answer.get("data") if isinstance(answer, dict) else None
        listing = (data or {}).get("result") if isinstance(data, dict) else None
        rows = (listing or {}).get("result") if isinstance(listing, dict) else None
        for row in rows if isinstance(rows, list) else []:
            if isinstance(row, dict) and row.get("node_id") == node_id:
                return row
        return None

    # -- packages (a working_dir or py_modules zip, kept by the cluster by name) -----------

    def package_exists(self, uri: str) -> bool:
        """Whether the cluster has ``gcs://NAME.zip`` (asking also pins it for a while, so it
        is still there when the job that names it is submitted)."""
        status, got = self.call("GET", _package_path(uri))
        if status == 200:
            return True
        if status == 404:
            return False
        raise RemoteUnreachable(
            f"the Ray cluster answered {status} for {uri}: {_last_line(got.decode(errors='replace'))}"
        )

    def upload_package(self, uri: str, path: Path) -> None:
        """Send a package zip."""
        size = path.stat().st_size
        with open(path, "rb") as f:
            status, got = self.call("PUT", _package_path(uri), data=f, length=size)
        if status != 200:
            raise RayRefused(
                status,
                f"Ray refused the package {uri} ({size / 2**20:.1f} MiB): "
                f"{_last_line(got.decode(errors='replace'))}",
            )

    # -- jobs ------------------------------------------------------------------------------

    def submit(self, request: dict[str, Any]) -> str:
        """Submit a job (the body Ray's ``submit_job`` sends); its submission id."""
        answer = self._json(
            "POST", "/api/jobs/", {k: v for k, v in request.items() if v is not None}
        )
        return str(answer.get("submission_id") or request.get("submission_id"))

    def info(self, job_id: str) -> dict[str, Any] | None:
        """The job's details (status, message, times...), None when the cluster has no such job."""
        status, got = self.call("GET", f"/api/jobs/{_job_id(job_id)}")
        if status == 404:
            return None
        if status != 200:
            raise RemoteUnreachable(
                f"the Ray cluster answered {status}: {_last_line(got.decode(errors='replace'))}"
            )
        try:
            answer = json.loads(got)
        except ValueError:
            answer = None
        if not isinstance(answer, dict) or not isinstance(answer.get("status"), str):
            raise RemoteGone(f"{self.address} sent job details that are not Ray's.")
        return answer

    def logs(self, job_id: str) -> str:
        """The job's whole log so far (Ray has no offset to read from)."""
        logs = self._json("GET", f"/api/jobs/{_job_id(job_id)}/logs").get("logs")
        return logs if isinstance(logs, str) else ""

    def stop(self, job_id: str) -> bool:
        """Ask Ray to stop the job; whether it was running. (A job still waiting for
        resources keeps waiting: Ray delivers the stop when it starts.)"""
        return bool(self._json("POST", f"/api/jobs/{_job_id(job_id)}/stop").get("stopped"))

    def delete(self, job_id: str) -> bool:
        """Forget an ended job (Ray refuses one that has not ended)."""
        return bool(self._json("DELETE", f"/api/jobs/{_job_id(job_id)}").get("deleted"))

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the cluster knows."""
        answer = self._json("GET", "/api/jobs/")
        return [job for job in answer if isinstance(job, dict)] if isinstance(answer, list) else []


def _job_id(job_id: str) -> str:
    if not job_id or not set(job_id) <= _JOB_ID_CHARS:
        raise AmlError(f"{job_id!r} is not a Ray job id.")
    return job_id


def _package_path(uri: str) -> str:
    protocol, _, name = uri.partition("://")
    if protocol != "gcs" or not name.startswith("_ray_pkg_") or "/" in name:
        raise AmlError(f"{uri!r} is not a Ray package URI (gcs://_ray_pkg_NAME.zip).")
    return f"/api/packages/gcs/{name}"


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {str(k): float(v) for k, v in values.items() if _number(v)}


def _count(value: Any) -> int:
    """How many nodes of a kind the report says (a sane count, else one)."""
    return int(value) if _number(value) and 0 <= value <= 100_000 else 1


def _usage(usage: Any) -> tuple[dict[str, float], dict[str, float]]:
    """A report's ``{name: [used, total]}`` as (total, used)."""
    pairs = {
        k: v
        for k, v in (usage.items() if isinstance(usage, dict) else ())
        if isinstance(v, list) and len(v) == 2 and all(_number(x) for x in v)
    }
    return {k: float(v[1]) for k, v in pairs.items()}, {k: float(v[0]) for k, v in pairs.items()}

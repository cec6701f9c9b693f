"""The agent's HTTP edge: the token before any body, per-route body caps, streamed uploads,
names and hashes refused; the client's kept-alive connections and TLS checks (against a plain
HTTP server that counts its connections)."""

from __future__ import annotations

import json
import os
import select
import socket
import ssl
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psutil
import pytest

from aml_jupyter import AmlError, ComputeInstance, Workspace
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.compute.instance.client import AgentClient
from aml_jupyter.compute.remote import RemoteUnreachable
from aml_jupyter.store.blobs import hash_file
from tests.test_compute_instance import Agent, _stop_agent_runs
from tests.test_hostile_peers import _sha


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    running = Agent(tmp_path / "agent", free_port(), tmp_path / "agent.token").start()
    yield running
    running.stop()
    _stop_agent_runs(running)


def _request(
    agent: Agent, method: str, path: str, data: bytes | None = None, token: bool = True
) -> tuple[int, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {agent.token}"} if token else {}
    request = urllib.request.Request(
        agent.address + "/api/v1" + path, data=data, method=method, headers=headers
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _put_blob(agent: Agent, data: bytes) -> str:
    sha = _sha(data)
    assert _request(agent, "PUT", f"/blobs/{sha}", data)[0] == 201
    return sha


def test_the_agent_refuses_names_and_hashes_that_are_not(agent: Agent) -> None:
    code, body = _request(agent, "PUT", "/blobs/..%2F..%2Fetc%2Fpasswd", b"x")
    assert code == 400 and "not a SHA-256" in body["message"], body
    # A hash followed by a newline is not a hash either (a `$` regex let it through).
    code, body = _request(agent, "GET", "/blobs/" + "a" * 64 + "%0A")
    assert code == 400 and "not a SHA-256" in body["message"], body
    missing = json.dumps({"sha256": ["../../etc/passwd"]}).encode()
    code, body = _request(agent, "POST", "/blobs/missing", missing)
    assert code == 400 and "not a SHA-256" in body["message"], body
    script = _put_blob(agent, b"print('hi')\n")
    manifests = {
        "hash of snapshot file 'train.py'": [["train.py", "../../etc/passwd", 12, False]],
        "contains '..'": [["../../outside.py", script, 12, False]],
        "not a snapshot manifest": {"train.py": script},
    }
    for reason, manifest in manifests.items():
        snapshot = _put_blob(agent, json.dumps(manifest).encode())
        run = {
            "id": "r1",
            "experiment": "e",
            "snapshot_id": snapshot,
            "definition": {"script": "train.py", "maxRunDurationSeconds": 60},
        }
        code, body = _request(agent, "POST", "/runs", json.dumps(run).encode())
        assert code == 400 and reason in body["message"], body
    assert agent.workspace.store.list_runs() == []
    assert not (agent.folder / "outside.py").exists()


def _raw(agent: Agent, head: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", agent.port), timeout=20)
    sock.sendall(head.encode())
    return sock


def _answer(sock: socket.socket) -> tuple[str, dict[str, Any]]:
    """The status line and JSON body of the answer, read until the agent closes."""
    data = b""
    while piece := sock.recv(65536):
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode(), json.loads(body)


def test_no_body_is_read_before_the_token_is_checked(agent: Agent) -> None:
    process = psutil.Process(agent.proc.pid)  # type: ignore[union-attr]
    assert _request(agent, "GET", "/info")[0] == 200
    rss_before = process.memory_info().rss
    head = f"POST /api/v1/runs HTTP/1.1\r\nHost: x\r\nContent-Length: {16 * 2**20}\r\n\r\n"
    body = b"x" * (12 * 2**20)
    held = []
    try:
        for _ in range(20):
            sock = _raw(agent, head)
            try:
                sock.sendall(body)  # the agent may have closed already: that is the point
            except OSError:
                pass
            held.append(sock)
        assert _request(agent, "GET", "/info")[0] == 200  # it went through all of them
        grown = process.memory_info().rss - rss_before
        assert grown < 100 * 2**20, f"the agent grew {grown / 2**20:.0f} MiB"
    finally:
        for sock in held:
            sock.close()
    # The answer comes from the headers alone, without waiting for the body.
    with _raw(agent, head) as sock:
        status, answer = _answer(sock)
    assert status.startswith("HTTP/1.1 401 ") and "token" in answer["message"], answer


def test_an_oversize_json_body_is_refused_413(agent: Agent) -> None:
    for path in ("/api/v1/runs", "/api/v1/blobs/missing", "/api/v1/runs/r1/sync"):
        head = (
            f"POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {agent.token}\r\n"
            f"Content-Length: {2 * 2**20}\r\n\r\n"
        )
        with _raw(agent, head) as sock:
            status, answer = _answer(sock)
        assert status.startswith("HTTP/1.1 413 "), (path, status)
        assert f"takes at most {2**20}" in answer["message"], answer
    # Under the cap the same route answers.
    code, body = _request(agent, "POST", "/blobs/missing", json.dumps({"sha256": []}).encode())
    assert (code, body) == (200, {"missing": []})


def test_a_big_upload_streams_to_disk_while_the_agent_keeps_answering(
    tmp_path: Path, ws: Workspace, agent: Agent
) -> None:
    box = ComputeInstance.attach(ws, "box", agent.address, agent.token).client(timeout=120)
    size = 200 * 2**20
    source = tmp_path / "big.bin"
    block = os.urandom(2**20)
    with open(source, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
    sha = hash_file(source)
    process = psutil.Process(agent.proc.pid)  # type: ignore[union-attr]
    rss_before = process.memory_info().rss
    outcome: dict[str, Any] = {}

    def upload() -> None:
        try:
            with open(source, "rb") as f:
                outcome["answer"] = json.loads(
                    box._call("PUT", f"/blobs/{sha}", data=f, length=size)
                )
        except Exception as exc:
            outcome["error"] = exc

    sender = threading.Thread(target=upload)
    sender.start()
    answered, rss_peak = 0, rss_before
    while sender.is_alive():
        box.info()
        answered += sender.is_alive()  # answered while the upload was still in flight
        rss_peak = max(rss_peak, process.memory_info().rss)
    sender.join()
    assert outcome.get("answer") == {"sha256": sha}, outcome
    assert answered >= 1
    assert rss_peak - rss_before < 100 * 2**20, f"grew {(rss_peak - rss_before) / 2**20:.0f} MiB"
    stored = agent.workspace.blobs.path(sha)
    assert hash_file(stored) == sha and stored.stat().st_size == size
    # An upload cut off half way leaves no temp file behind.
    head = (
        f"PUT /api/v1/blobs/{'c' * 64} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {agent.token}\r\nContent-Length: {10 * 2**20}\r\n\r\n"
    )

    def partial() -> list[Path]:
        # Temp files of the store are dot files; finished blobs live in sub-folders.
        return [p for p in agent.workspace.blobs.root.glob(".*") if p.stat().st_size]

    with _raw(agent, head) as sock:
        sock.sendall(b"y" * 2**20)
        deadline = time.monotonic() + 20
        while not partial():  # the agent is writing it to disk
            assert time.monotonic() < deadline, "the upload never reached the disk"
            time.sleep(0.05)
    deadline = time.monotonic() + 20
    while partial():
        assert time.monotonic() < deadline, "a cut-off upload left its temp file"
        time.sleep(0.05)
    assert "c" * 64 not in agent.workspace.blobs


def _connections_to(port: int) -> set[int]:
    """Our local ports of the TCP connections this process holds open to ``port``."""
    return {
        c.laddr.port
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
    }


def test_the_agent_client_keeps_one_connection_across_requests(ws: Workspace, agent: Agent) -> None:
    client = ComputeInstance.attach(ws, "box", agent.address, agent.token).client()
    seen = []
    for _ in range(5):
        client.info()
        seen.append(_connections_to(agent.port))
    # A refusal (400) is read to its end too: its connection serves the next request.
    with pytest.raises(AmlError, match="sha256 must be a list"):
        client._json("POST", "/blobs/missing", {"sha256": "nope"})
    client.info()
    seen.append(_connections_to(agent.port))
    assert len(seen[0]) == 1 and all(s == seen[0] for s in seen), seen
    # The same client with another timeout shares the connection.
    client.with_timeout(3.0).info()
    assert _connections_to(agent.port) == seen[0]
    # An agent restarted on the same port: the dead kept-alive connection is not an error.
    agent.stop()
    again = Agent(agent.folder, agent.port, agent.token_file).start()
    try:
        assert client.info()["agent"] == "aml_jupyter"
        assert len(_connections_to(agent.port)) == 1 and _connections_to(agent.port) != seen[0]
        client.close()
        assert _connections_to(agent.port) == set()
    finally:
        again.stop()


class Peer:
    """A plain HTTP server in a thread of the test: counts the TCP connections it accepts and
    the requests it reads, and answers each by ``mode``: ``keep`` (kept alive), ``close``
    (says ``Connection: close`` but keeps it open), ``http/1.0`` (an HTTP/1.0 answer, kept
    open), ``closes-idle`` (closes after answering, saying nothing), ``short`` (fewer body
    bytes than its Content-Length), ``drop`` (closes POSTs unanswered)."""

    def __init__(self, mode: str = "keep", tls: tuple[Path, Path] | None = None) -> None:
        peer, self.mode, self.accepted = self, mode, 0
        self.requests: list[tuple[str, str, str | None]] = []

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def answer(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                peer.requests.append((self.command, self.path, self.headers["Authorization"]))
                if peer.mode == "drop" and self.command == "POST":
                    self.close_connection = True
                    return
                body = b'{"agent": "aml_jupyter"}'
                if peer.mode == "http/1.0":
                    self.protocol_version = "HTTP/1.0"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) + 90 * (peer.mode == "short")))
                if peer.mode == "close":
                    self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(body)
                # Open whatever the answer said: only the client decides whether it is reused.
                self.close_connection = peer.mode in ("closes-idle", "short")

            do_GET = do_POST = answer

            def do_CONNECT(self) -> None:  # as a proxy: a tunnel to the address asked for
                peer.requests.append((self.command, self.path, self.headers["Authorization"]))
                host, port = self.path.rsplit(":", 1)
                with socket.create_connection((host, int(port))) as far:
                    self.send_response(200)
                    self.end_headers()
                    _pump(self.connection, far)
                self.close_connection = True

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self) -> tuple[socket.socket, Any]:
                accepted = super().get_request()  # with TLS: after the handshake
                peer.accepted += 1
                return accepted

        self.server = Server(("127.0.0.1", 0), Handler)
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.address = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Peer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def _pump(one: socket.socket, other: socket.socket) -> None:
    """Bytes both ways until either side closes."""
    while True:
        for ready in select.select([one, other], [], [], 30)[0]:
            data = ready.recv(65536)
            if not data:
                return
            (other if ready is one else one).sendall(data)


def test_one_kept_alive_connection_carries_every_request() -> None:
    with Peer() as peer:
        client = AgentClient(peer.address, "t0ken")
        for _ in range(20):
            assert client.info() == {"agent": "aml_jupyter"}
        client.with_timeout(5.0).info()
        assert peer.accepted == 1 and len(peer.requests) == 21
        assert set(peer.requests) == {("GET", "/api/v1/info", "Bearer t0ken")}
        client.close()
        assert _connections_to(peer.port) == set()


def test_a_connection_the_agent_closed_while_idle_is_replaced() -> None:
    with Peer("closes-idle") as peer:
        client = AgentClient(peer.address, "t0ken")
        for round in range(1, 4):
            client.info()
            deadline = time.monotonic() + 20
            while not _closed_by_peer(peer.port):  # its close reached us: the idle one is dead
                assert time.monotonic() < deadline, "the peer never closed the connection"
                time.sleep(0.01)
            assert peer.accepted == round
        client.info()  # no error: a new connection, not the dead one
        assert peer.accepted == 4


def _closed_by_peer(port: int) -> bool:
    states = {
        c.status
        for c in psutil.Process().net_connections(kind="tcp")
        if c.raddr and c.raddr.port == port
    }
    return psutil.CONN_CLOSE_WAIT in states and psutil.CONN_ESTABLISHED not in states


@pytest.mark.parametrize("mode", ["close", "http/1.0"])
def test_an_answer_that_ends_the_connection_is_not_reused(mode: str) -> None:
    with Peer(mode) as peer:
        client = AgentClient(peer.address, "t0ken")
        for _ in range(5):
            assert client.info() == {"agent": "aml_jupyter"}
        assert peer.accepted == 5
        assert _connections_to(peer.port) == set()  # each one closed, none left open


def test_a_cut_answer_or_a_dropped_post_is_an_error_and_never_sent_again() -> None:
    with Peer("short") as peer, pytest.raises(RemoteUnreachable, match=r"answer.*IncompleteRead"):
        AgentClient(peer.address, "t0ken").info()
    with Peer("drop") as peer:
        client = AgentClient(peer.address, "t0ken")
        client.info()  # the POST goes on a kept-alive connection, which then fails
        with pytest.raises(RemoteUnreachable, match="does not answer"):
            client.start_run("r1", "e", "s", {}, {})
        assert [method for method, *_ in peer.requests] == ["GET", "POST"]


def _certificate(folder: Path, name: str, alt_name: str) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        [
            *(
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:prime256v1",
            ),
            *(
                "-nodes",
                "-days",
                "1",
                "-subj",
                f"/CN={name}",
                "-addext",
                f"subjectAltName={alt_name}",
            ),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_tls_checks_the_certificate_and_the_name(tmp_path: Path) -> None:
    good = _certificate(tmp_path, "agent", "IP:127.0.0.1")
    other = _certificate(tmp_path, "other", "IP:127.0.0.1")
    named = _certificate(tmp_path, "named", "DNS:localhost")
    with Peer(tls=good) as peer:
        wrong = AgentClient(peer.address, "t0ken", ca_file=str(other[0]))
        with pytest.raises(RemoteUnreachable, match=r"answer.*certificate verify failed"):
            wrong.info()
        with pytest.raises(RemoteUnreachable, match="certificate verify failed"):
            AgentClient(peer.address, "t0ken").info()  # the system's CAs do not know it
        client = AgentClient(peer.address, "t0ken", ca_file=str(good[0]))
        for _ in range(20):
            assert client.info() == {"agent": "aml_jupyter"}
        assert peer.accepted == 1 and len(peer.requests) == 20
    with Peer(tls=named) as peer:
        client = AgentClient(peer.address, "t0ken", ca_file=str(named[0]))
        with pytest.raises(RemoteUnreachable, match=r"certificate verify failed.*mismatch"):
            client.info()
        assert peer.requests == []  # the token never went out


def test_a_proxy_gets_absolute_uris_for_http_and_a_tunnel_for_https(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = _certificate(tmp_path, "agent", "IP:127.0.0.1")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    with Peer() as proxy, Peer(tls=good) as agent:
        monkeypatch.setenv("http_proxy", proxy.address)
        monkeypatch.setenv("https_proxy", proxy.address)
        assert AgentClient("http://agent.example:8123", "t0ken").info()["agent"] == "aml_jupyter"
        assert proxy.requests == [("GET", "http://agent.example:8123/api/v1/info", "Bearer t0ken")]
        client = AgentClient(agent.address, "t0ken", ca_file=str(good[0]))
        for _ in range(3):
            client.info()
        # One tunnel, kept alive, asked for without the token; the agent gets it through TLS.
        assert proxy.requests[1:] == [("CONNECT", f"127.0.0.1:{agent.port}", None)]
        assert agent.accepted == 1 and agent.requests[-1] == ("GET", "/api/v1/info", "Bearer t0ken")
        client.close()

"""Remote sides that lie: a hostile compute-instance agent, a hostile Ray driver's frames,
and hostile clients of a real agent.

The hostile agent is a real tornado app (in a thread of the test) speaking the agent's
protocol with evil values; the runs submitted to it go through the real client and the real
mirror process. The hostile clients talk raw HTTP to a real ``aml instance serve`` process.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import re
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from tornado import web

from aml_jupyter import AmlError, ComputeInstance, Experiment, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.cli import main as aml
from aml_jupyter.compute.cluster import _STAGING, _RayRemote
from aml_jupyter.compute.remote import RemoteGone
from aml_jupyter.distributed import free_port
from aml_jupyter.store.blobs import hash_file
from tests.conftest import wait_status, write
from tests.test_compute_instance import Agent, _stop_agent_runs

TOKEN = "hostile-token-0123456789abcdef"
EVIL = b"evil bytes"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class HostileAgent:
    """A tornado app that answers like an agent, with whatever ``sync`` and ``blobs`` say."""

    def __init__(self) -> None:
        self.port = free_port()
        self.address = f"http://127.0.0.1:{self.port}"
        self.sync: dict[str, Any] = {}
        self.blobs: dict[str, bytes] = {}
        self.missing: list[str] = []  # "has" everything: nothing is uploaded
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)
        self._ready = threading.Event()

    async def _main(self) -> None:
        peer = self

        class Json(web.RequestHandler):
            def check_xsrf_cookie(self) -> None:
                pass

        class Info(Json):
            def get(self) -> None:
                self.finish({"agent": "aml_jupyter", "version": "0", "host": "evil"})

        class Missing(Json):
            def post(self) -> None:
                self.finish({"missing": peer.missing})

        class Runs(Json):
            def post(self) -> None:
                self.set_status(201)
                self.finish({"id": json.loads(self.request.body)["id"], "status": "Queued"})

        class Sync(Json):
            def post(self, run_id: str) -> None:
                answer: dict[str, Any] = {"status": "Completed", "exit_code": 0, "tags": {}}
                answer.update(error=None, properties={}, chunks={}, more=False, files=[])
                self.finish({**answer, **peer.sync})

        class Blob(Json):
            def get(self, sha: str) -> None:
                if sha not in peer.blobs:
                    raise web.HTTPError(404)
                self.finish(peer.blobs[sha])

        app = web.Application(
            [
                ("/api/v1/info", Info),
                ("/api/v1/blobs/missing", Missing),
                ("/api/v1/blobs/(.+)", Blob),
                ("/api/v1/runs", Runs),
                ("/api/v1/runs/([^/]+)/sync", Sync),
            ]
        )
        server = app.listen(self.port, address="127.0.0.1")
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        server.stop()

    def start(self) -> HostileAgent:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        assert not self._thread.is_alive()


@pytest.fixture
def hostile(ws: Workspace) -> Iterator[HostileAgent]:
    peer = HostileAgent().start()
    ComputeInstance.attach(ws, "evil", peer.address, TOKEN)
    yield peer
    peer.stop()


def _files_outside(root: Path, *inside: Path) -> set[Path]:
    """Every file under ``root`` that is not under one of ``inside``."""
    return {
        p
        for p in root.rglob("*")
        if p.is_file() and not any(p.is_relative_to(folder) for folder in inside)
    }


def _wait_gone(pid: int | None) -> None:
    """The run's mirror process ends with the run; killed if it does not."""
    if not pid:
        return
    try:
        process = psutil.Process(pid)
        deadline = time.monotonic() + 20
        while process.status() != psutil.STATUS_ZOMBIE:
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                raise AssertionError(f"the mirror {pid} outlived its run")
            time.sleep(0.05)
    except psutil.NoSuchProcess:
        pass  # gone (and reaped)


TRAVERSAL = "outputs/../../../../elsewhere/x"
CASES: dict[str, tuple[dict[str, Any], dict[str, bytes], str]] = {
    "file name": (
        {"files": [[TRAVERSAL, _sha(EVIL), len(EVIL)]]},
        {_sha(EVIL): EVIL},
        "sent an invalid file name",
    ),
    "file hash": (
        {"files": [["outputs/passwd", "../../etc/passwd", 10]]},
        {},
        "sent an invalid file hash",
    ),
    "blob bytes": (
        {"files": [["outputs/model.txt", _sha(b"model"), 5]]},
        {_sha(b"model"): b"mode!"},
        "do not match its sha256",
    ),
    "blob size": (
        {"files": [["outputs/model.txt", _sha(b"model"), 5]]},
        {_sha(b"model"): b"model and then some endless bytes"},
        "More than the announced 5 bytes",
    ),
    "chunk name": (
        {"status": "Running", "chunks": {TRAVERSAL: base64.b64encode(EVIL).decode()}},
        {},
        "sent an invalid file name",
    ),
    "tags": ({"tags": ["not", "a", "mapping"]}, {}, "sent invalid tags"),
    "status": ({"status": "Pwned"}, {}, "sent an unknown run status"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_lying_agent_ends_the_run_failed_and_writes_nothing_outside(
    case: str,
    tmp_path: Path,
    ws: Workspace,
    exp: Experiment,
    project: Path,
    hostile: HostileAgent,
) -> None:
    hostile.sync, hostile.blobs, reason = CASES[case]
    write(project, "train.py", "print('hi')\n")
    before = _files_outside(tmp_path, ws.folder)
    run = exp.submit(ScriptRunConfig(project, "train.py", compute_target="evil"))
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.FAILED
    _wait_gone(ws.records.get_run(run.id)["pid"])
    message = run.get_details()["error"]["error"]["message"]
    assert reason in message, message
    if "invalid" in reason or "unknown" in reason:
        assert "compute instance 'evil'" in message, message  # says who lied
    # Nothing the agent named was recorded; no name leads out, no hash names a client file.
    names = run.get_file_names()
    assert not any(".." in n.split("/") for n in names), names
    assert "outputs/passwd" not in names
    with pytest.raises(AmlError):
        run.open_file("outputs/passwd")
    target = tmp_path / "a" / "b" / "dl"  # the traversal would land in tmp_path/elsewhere
    run.download_files(output_directory=target)
    assert aml(["run", "download", run.id, "-o", str(target), "-w", str(ws.folder)]) == 0
    assert _files_outside(tmp_path, ws.folder, target) == before
    assert not (tmp_path / "elsewhere").exists()
    # No half-fetched blob is left in the store's temp files.
    assert not list(ws.blobs.root.glob(".incoming-*"))


def test_an_agent_asking_for_blobs_it_was_not_offered_gets_none(
    ws: Workspace, exp: Experiment, project: Path, hostile: HostileAgent
) -> None:
    secret = ws.blobs.put_bytes(b"another run's model")[0]  # a blob the agent could name
    hostile.missing = [secret]
    write(project, "train.py", "print('hi')\n")
    with pytest.raises(AmlError, match="asked for blobs it was not offered"):
        exp.submit(ScriptRunConfig(project, "train.py", compute_target="evil"))
    assert ws.records.list_runs() == []


def _ray_remote() -> _RayRemote:
    return _RayRemote("http://127.0.0.1:1", "job-1", "n0nce", "ray")


def _frames(*frames: str) -> str:
    return "".join(f"@@aml:n0nce:{f}\n" for f in frames)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (f"file:{json.dumps([TRAVERSAL, _sha(EVIL), 10])}", "invalid file name"),
        (f"file:{json.dumps(['outputs/passwd', '../../etc/passwd', 10])}", "invalid file hash"),
        (f"file:{json.dumps({'name': 'x'})}", "not [name, sha256, size]"),
        (f"chunk:{TRAVERSAL}:{base64.b64encode(EVIL).decode()}", "invalid file name"),
        ("chunk:metrics/m.jsonl:not base64!", "not base64"),
        (f"blob:../../../x:{base64.b64encode(EVIL).decode()}", "invalid file name"),
        ("status:Pwned", "unknown run status"),
        (f"end:{json.dumps({'status': 'Running', 'tags': {}})}", "ended the run as 'Running'"),
        (f"end:{json.dumps({'status': 'Completed', 'tags': 'x'})}", "invalid tags"),
        ("end:{nope", "not JSON"),
    ],
)
def test_a_lying_ray_driver_is_refused(
    tmp_path: Path, ws: Workspace, frame: str, reason: str
) -> None:
    run_dir = ws.run_dir("r1")
    before = _files_outside(tmp_path, ws.folder)
    remote = _ray_remote()
    with pytest.raises(RemoteGone, match=re.escape(reason)) as info:
        remote._read(run_dir, "driver line\n" + _frames(frame), final=True)
    assert "Ray cluster 'ray'" in str(info.value)
    assert _files_outside(tmp_path, ws.folder) == before
    assert remote._files == [] and remote._end is None


def test_a_ray_file_whose_bytes_differ_from_its_hash_is_refused(ws: Workspace) -> None:
    ws.records.create_run("e", "azureml.scriptrun", RunStatus.RUNNING, run_id="r1")
    run_dir = ws.run_dir("r1")
    remote = _ray_remote()
    good = base64.b64encode(b"model").decode()
    remote._read(
        run_dir,
        _frames(
            f"blob:outputs/model.txt:{base64.b64encode(b'tampered').decode()}",
            f"file:{json.dumps(['outputs/model.txt', _sha(b'model'), 5])}",
            f"blob:outputs/ok.txt:{good}",
            f"file:{json.dumps(['outputs/ok.txt', _sha(b'model'), 5])}",
        ),
        final=True,
    )
    with pytest.raises(AmlError, match="arrived damaged"):
        remote.collect(ws, "r1")
    assert ws.records.list_files("r1") == []
    assert _sha(b"model") not in ws.blobs and _sha(b"tampered") not in ws.blobs
    assert not (run_dir / _STAGING).exists()
    # The same frames with honest bytes are stored.
    remote = _ray_remote()
    remote._read(
        run_dir,
        _frames(
            f"blob:outputs/model.txt:{good}",
            f"file:{json.dumps(['outputs/model.txt', _sha(b'model'), 5])}",
        ),
        final=True,
    )
    remote.collect(ws, "r1")
    assert [tuple(r) for r in ws.records.list_files("r1")] == [
        ("outputs/model.txt", _sha(b"model"), 5)
    ]


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
    assert agent.workspace.records.list_runs() == []
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

"""A compute-instance agent that lies: nothing it sends is trusted.

The hostile agent is a real tornado app (in a thread of the test) speaking the agent's
protocol with evil values; the runs submitted to it go through the real client and the real
mirror process. (A lying Ray driver: test_hostile_ray_driver.py; hostile clients of a real
agent: test_agent_http.py.)
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from tornado import web

from aml_jupyter import AmlError, ComputeInstance, Experiment, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.frontends.cli.main import main as aml
from tests.conftest import wait_status, write

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
    _wait_gone(ws.store.get_run(run.id).pid)
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
    assert ws.store.list_runs() == []

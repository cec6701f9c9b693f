"""A run's driver inside a Ray job: ``python -m aml_jupyter.compute.cluster.ray_driver`` (the entrypoint).

Ray starts it in the job's ``working_dir`` (the run's snapshot), with the run (id, definition,
a nonce) as its one argument, base64 JSON. It makes a
scratch workspace on the node, runs the run there with the same :class:`Supervisor` as the
``local`` target, and streams the run folder back through the job's log, the one channel Ray
Jobs gives a submitter: the driver log as plain lines (readable in Ray's dashboard too), and
everything else as frames ``@@aml:<nonce>:<kind>:<payload>`` on lines of their own. The nonce
comes from the submitter, so a script printing such a line cannot forge one.

Frames: ``status:<Status>``; ``chunk:<path>:<base64>`` (bytes appended to a run-folder file:
metrics, other ranks' logs, ./logs); ``blob:<name>:<base64>`` (part of a stored run file, e.g.
./outputs); ``file:<json [name, sha256, size]>``; ``end:<json state>`` (status, error, exit
code, tags, properties): always last.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, TextIO

from ...status import RunStatus
from ...store.run_folder import DRIVER_LOG, STREAMED, USER_LOGS
from ...tracking.workspace import Workspace

CHUNK = 192 * 1024
PUMP_S = 0.2


class Forwarder:
    """Copies what a run folder gains to ``out``: plain driver-log lines, framed the rest."""

    def __init__(self, ws: Workspace, run_id: str, nonce: str, out: TextIO) -> None:
        self.ws = ws
        self.run_id = run_id
        self.folder = ws.store.run_folder(run_id)
        self.prefix = f"@@aml:{nonce}:"
        self.out = out
        self.sent: dict[str, int] = {}
        self.status: str | None = None
        self.lock = threading.Lock()

    def frame(self, kind: str, payload: str) -> None:
        # On a line of its own: driver-log text is only ever sent as whole lines.
        self.out.write(f"{self.prefix}{kind}:{payload}\n")

    def pump(self, final: bool = False) -> None:
        """Send what is new; ``final`` also sends a last partial driver-log line."""
        with self.lock:
            status = self.ws.store.get_run(self.run_id).status
            if status != self.status and status not in RunStatus.TERMINAL:
                self.frame("status", status)
                self.status = status
            self._driver_log(final)
            root = self.folder.root
            for folder in STREAMED:  # the run-folder parts sent as chunks while the run goes
                for dirpath, _, names in os.walk(root / folder):
                    for name in sorted(names):
                        path = Path(dirpath) / name
                        rel = path.relative_to(root).as_posix()
                        if rel != DRIVER_LOG:
                            self._chunks(path, rel)
            self.out.flush()

    def _driver_log(self, final: bool) -> None:
        path = self.folder.driver_log
        if not path.exists():
            return
        held = self.sent.get(DRIVER_LOG, 0)
        with open(path, "rb") as f:
            f.seek(held)
            data = f.read()
        if not final:
            data = data[: data.rfind(b"\n") + 1]  # whole lines only
        if data:
            self.out.write(data.decode("utf-8", errors="replace"))
            if final and not data.endswith(b"\n"):
                self.out.write("\n")
            self.sent[DRIVER_LOG] = held + len(data)

    def _chunks(self, path: Path, rel: str) -> None:
        held = self.sent.get(rel, 0)
        if path.stat().st_size <= held:
            return
        with open(path, "rb") as f:
            f.seek(held)
            while data := f.read(CHUNK):
                self.frame("chunk", f"{rel}:{base64.b64encode(data).decode()}")
                held += len(data)
        self.sent[rel] = held

    def finish(self) -> None:
        """After the run ended: its stored files not streamed already, then the end frame."""
        self.pump(final=True)
        records = self.ws.store
        for name, sha, size in (
            (f.name, f.sha256, f.size) for f in records.list_files(self.run_id)
        ):
            if name.startswith((f"{USER_LOGS}/", "logs/")):
                continue  # streamed live; the submitter stores its copies
            with self.ws.blobs.open(sha) as f:
                while data := f.read(CHUNK):
                    self.frame("blob", f"{name}:{base64.b64encode(data).decode()}")
            self.frame("file", json.dumps([name, sha, size]))
        row = records.get_run(self.run_id)
        state = {
            "status": row.status,
            "error": dict(row.error) if row.error else None,
            "exit_code": row.exit_code,
            "tags": records.get_tags(self.run_id),
            "properties": records.get_properties(self.run_id),
        }
        self.frame("end", json.dumps(state))
        self.out.flush()


def encode_spec(spec: dict[str, Any]) -> str:
    """The entrypoint's argument: the run as base64 JSON (no quoting trouble in a shell)."""
    return base64.urlsafe_b64encode(json.dumps(spec).encode()).decode()


def main(argv: list[str] | None = None) -> int:
    """Run the run given as argument, from the current folder (the job's working_dir)."""
    import shutil

    from ...snapshot.snapshot import take_snapshot
    from ...tracking.run import SCRIPT_RUN
    from ..local.supervisor import Supervisor

    args = argv if argv is not None else sys.argv[1:]
    spec = json.loads(base64.urlsafe_b64decode(args[0]))
    run_id, nonce = spec["id"], spec["nonce"]
    scratch = tempfile.mkdtemp(prefix="aml-ray-")
    ws = Workspace.create(scratch)
    ws.store.run_folder(run_id).user_logs.mkdir(parents=True)
    definition = dict(spec["definition"])
    definition["python"] = sys.executable  # Ray made the job's environment
    definition["environment"] = None
    # The submitter enforced the snapshot limits already.
    snapshot = take_snapshot(ws.store, Path.cwd(), max_bytes=2**62, max_files=2**31)
    ws.store.create_run(
        spec["experiment"], SCRIPT_RUN, RunStatus.QUEUED, run_id=run_id, definition=definition
    )
    ws.store.update_run(run_id, snapshot_id=snapshot.id)
    if spec.get("tags"):
        ws.store.set_tags(run_id, spec["tags"])
    forwarder = Forwarder(ws, run_id, nonce, sys.stdout)
    done = threading.Event()

    def pump_until_done() -> None:
        while not done.wait(PUMP_S):
            forwarder.pump()

    pumping = threading.Thread(target=pump_until_done, daemon=True)
    pumping.start()
    supervisor = Supervisor(ws, run_id)
    if definition.get("distributed"):
        import ray

        from .ray_ranks import RaySupervisor, reserve_bundles

        # The ranks' own output reaches us through the run folder, not Ray's log forwarding.
        ray.init(log_to_driver=False)
        cpus, gpus = spec["resources"]["cpus"], spec["resources"]["gpus"]
        group = reserve_bundles(run_id, definition["distributed"], cpus, gpus)  # Queued meanwhile
        supervisor = RaySupervisor(ws, run_id, group, cpus, gpus)
    try:
        supervisor.run()  # main thread: Ray's stop (SIGTERM) becomes a cancel
    finally:
        supervisor.finished.set()
        done.set()
        pumping.join()
    forwarder.finish()
    ws.store.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

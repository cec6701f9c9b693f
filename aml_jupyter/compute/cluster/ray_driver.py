"""A run's driver inside a Ray job: ``python -m aml_jupyter.compute.cluster.ray_driver`` (the entrypoint).

Ray starts it in the job's ``working_dir`` (the run's snapshot), with the run (id, definition,
a nonce) as its one argument, base64 JSON. It makes a scratch workspace on the node and runs
the run there: a single process that fit when it was submitted with the same
:class:`Supervisor` as the ``local`` target, as a child of this process; a distributed run, or
a single process that had to wait, in a placement group it reserves first (the run shows Queued
meanwhile, and a stop ends it Canceled at once), each process a Ray actor in its bundle
(:mod:`.ray_ranks`). Then it streams the run folder back through the job's log, the one channel
Ray Jobs gives a submitter: the driver log as plain lines (readable in Ray's dashboard too),
and everything else as frames ``@@aml:<nonce>:<kind>:<payload>`` on lines of their own. The
nonce comes from the submitter, so a script printing such a line cannot forge one.

The job's log carries nothing else: what the driver process itself prints (Ray's own logs, its
C++ stack traces and signal dumps, a node's death notices) goes to the run's system log
``system_logs/ray_job.txt``, streamed live and kept among the run's files. Every status the run
passes through is sent as it is set (a run done in a blink still shows it ran). The driver
exits 1 when the run failed, so Ray's job status agrees with the run's.

Frames: ``status:<Status>``; ``chunk:<path>:<base64>`` (bytes appended to a run-folder file:
metrics, other ranks' logs, ./logs); ``blob:<name>:<base64>`` (part of a stored run file, e.g.
./outputs); ``file:<json [name, sha256, size]>``; ``end:<json state>`` (status, error, exit
code, tags, properties): always last.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from pathlib import Path
from typing import Any, TextIO

from ...status import RunStatus
from ...store.run_folder import DRIVER_LOG, STREAMED, USER_LOGS
from ...store.run_folder import RAY_JOB_LOG as SYSTEM_LOG
from ...tracking.workspace import Workspace
from .process_age import process_age_s

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

    def status_changed(self, status: str) -> None:
        """Send a status the moment it is set (the pump alone would miss a short one)."""
        with self.lock:
            if status != self.status and status not in RunStatus.TERMINAL:
                self.frame("status", status)
                self.status = status
                self.out.flush()

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
            system_log = self.folder.path(SYSTEM_LOG)
            if system_log.exists():  # live too, for whoever digs while the run goes
                self._chunks(system_log, SYSTEM_LOG)
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
            if name.startswith((f"{USER_LOGS}/", "logs/")) or name == SYSTEM_LOG:
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


def _split_output(log: Path) -> TextIO:
    """The job's log becomes the forwarder's alone; what this process (and Ray in it) writes to
    stdout or stderr from now on goes to ``log``. Returns the job's log as a stream."""
    sys.stdout.flush()
    sys.stderr.flush()
    job_log = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
    log.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    return job_log


def _announce_statuses(ws: Workspace, forwarder: Forwarder) -> None:
    """Every status the run is set to goes out as a frame at once (see the docstring)."""
    store = ws.store
    set_status = store.set_status

    def announcing(run_id: str, status: str, **kwargs: Any) -> bool:
        changed = set_status(run_id, status, **kwargs)
        if changed and run_id == forwarder.run_id:
            forwarder.status_changed(status)
        return changed

    store.set_status = announcing  # type: ignore[method-assign]


def _keep_system_log(ws: Workspace, run_id: str) -> None:
    """The run's system log among its stored files (sent back with them)."""
    sys.stdout.flush()
    sys.stderr.flush()
    path = ws.store.run_folder(run_id).path(SYSTEM_LOG)
    if path.is_file() and path.stat().st_size:
        sha, size = ws.blobs.put_file(path)
        ws.store.add_files(run_id, [(SYSTEM_LOG, sha, size)])


def _placed(
    ws: Workspace, run_id: str, distributed: dict[str, Any] | None, resources: dict[str, float]
) -> Any:
    """Join the cluster and reserve the processes' bundles (the run shows Queued meanwhile):
    one per node of a distributed run, or the one process's; returns the supervisor to run,
    or None when the run was canceled while it waited."""
    import ray

    from ..local.supervisor import finalize_run
    from .ray_placement import Placement
    from .ray_ranks import RaySupervisor

    started = time.monotonic()
    # The ranks' own output reaches us through the run folder, not Ray's log forwarding.
    ray.init(log_to_driver=False)
    print(f"[aml] ray.init() took {time.monotonic() - started:.2f} s", flush=True)
    one = {"nodeCount": 1, "processCountPerNode": 1}
    placement = Placement(distributed or one, resources["cpus"], resources["gpus"])
    supervisor = RaySupervisor(ws, run_id, placement)
    # Ray's stop while the run waits ends it Canceled here (the supervisor looks again before
    # it starts the ranks), not by the signal's default.
    signal.signal(signal.SIGTERM, lambda *_: supervisor.cancel_requested.set())
    driver_log = ws.store.run_folder(run_id).driver_log

    def note(text: str) -> None:
        with open(driver_log, "a") as f:
            f.write(text + "\n")

    started = time.monotonic()
    group = placement.reserve(run_id, note, supervisor.cancel_requested)
    if group is None:
        note("[aml] Canceled while the run waited for Ray to place its processes.")
        finalize_run(ws, run_id, RunStatus.CANCELED)
        return None
    print(f"[aml] Placement group ready in {time.monotonic() - started:.2f} s", flush=True)
    supervisor.group = group
    return supervisor


def main(argv: list[str] | None = None) -> int:
    """Run the run given as argument, from the current folder (the job's working_dir)."""
    import shutil

    begun = time.monotonic()
    args = argv if argv is not None else sys.argv[1:]
    spec = json.loads(base64.urlsafe_b64decode(args[0]))
    scratch = tempfile.mkdtemp(prefix="aml-ray-")
    ws = Workspace.create(scratch)
    folder = ws.store.run_folder(spec["id"])
    folder.user_logs.mkdir(parents=True)
    job_log = _split_output(folder.path(SYSTEM_LOG))
    try:
        failed = _drive(ws, spec, job_log, begun)
    except BaseException:
        # Said where the submitter sees it too (the driver log), as well as in the system log.
        text = traceback.format_exc()
        sys.stderr.write(text)
        job_log.write(f"[aml] The run's Ray driver failed:\n{text}")
        job_log.flush()
        raise
    ws.store.close()
    shutil.rmtree(scratch, ignore_errors=True)
    return 1 if failed else 0


def _drive(ws: Workspace, spec: dict[str, Any], job_log: TextIO, begun: float) -> bool:
    """:func:`main` once the output is split: the run, to its end frame; True if it failed."""
    from ...snapshot.snapshot import take_snapshot
    from ...tracking.run import SCRIPT_RUN
    from ..local.sealed_secrets import ray_node_secrets
    from ..local.supervisor import Supervisor

    run_id, nonce = spec["id"], spec["nonce"]
    # The run's sealed secrets: the key out of our environment, the token into the run folder.
    secrets = ray_node_secrets(ws.store.run_folder(run_id), run_id)
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
    forwarder = Forwarder(ws, run_id, nonce, job_log)
    _announce_statuses(ws, forwarder)
    forwarder.pump()  # Queued, at once
    up = process_age_s()
    if up is not None:
        print(f"[aml] Driver up {up:.2f} s after its process started")
    done = threading.Event()

    def pump_until_done() -> None:
        while not done.wait(PUMP_S):
            forwarder.pump()

    pumping = threading.Thread(target=pump_until_done, daemon=True)
    pumping.start()
    try:
        supervisor = Supervisor(ws, run_id)
        if definition.get("distributed") or spec.get("placed"):
            supervisor = _placed(ws, run_id, definition.get("distributed"), spec["resources"])
        if supervisor is not None:
            supervisor.secrets = secrets
            try:
                supervisor.run()  # main thread: Ray's stop (SIGTERM) becomes a cancel
            finally:
                supervisor.finished.set()
    finally:
        done.set()
        pumping.join()
        if secrets is not None:
            secrets.discard()  # the token goes with the run's end
    print(f"[aml] Run ended {time.monotonic() - begun:.2f} s after the driver's start", flush=True)
    _keep_system_log(ws, run_id)
    forwarder.finish()
    return ws.store.get_run(run_id).status == RunStatus.FAILED


if __name__ == "__main__":
    sys.exit(main())

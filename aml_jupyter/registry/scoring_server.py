"""A deployed model's scoring service:
``python -m aml_jupyter.registry.scoring_server WORKSPACE_FOLDER SERVICE_NAME``.

Started detached by :meth:`Model.deploy` (see :mod:`aml_jupyter.registry.deployment`). It reads
the service's record from the workspace store (then lets go of the store: its workers fork
with no database connection), sets ``AZUREML_MODEL_DIR`` as v1 does and becomes the supervisor
of ``workers`` forked worker processes (:mod:`aml_jupyter.registry.scoring_workers`: one that dies is
started again, with backoff, for as long as the service lives). Each worker calls the entry
script's ``init()`` once, binds the port (``SO_REUSEPORT`` when there are several: the kernel
balances connections), then calls ``run(raw_data)`` per request (v1's contract: ``raw_data`` is
the request body as a string), one at a time, in its scoring thread: the worker's event loop
keeps answering the health route while ``run()`` works. A scikit-learn model deployed without
an entry script gets a built-in one: ``predict`` on ``{"data": [...]}``.

Routes: ``GET /`` health (200 once ``init()`` is done, also while ``run()`` is busy),
``POST /score`` (JSON in, JSON out; 400 for a body that is not JSON, is nested too deeply to
parse or has the wrong shape, 413 for a body over the size limit (64 MiB unless
``AML_SERVICE_MAX_BODY_BYTES`` said otherwise at deploy time), 500 with the error when
``run()`` raises: the service stays up), ``GET /swagger.json`` (OpenAPI). Every request's
latency and status go to a per-worker file in the service folder, read by
``service.get_stats()``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import ModuleType
from typing import Any

from tornado import web
from tornado.ioloop import IOLoop, PeriodicCallback

from ..store import open_store
from ..store.service_folder import ServiceFolder
from .scoring_workers import supervise
from .service_config import MAX_BODY_BYTES
from .service_keys import authorized

OPENAPI = {
    "openapi": "3.0.3",
    "info": {"title": "aml_jupyter scoring service", "version": "1"},
    "paths": {
        "/": {"get": {"summary": "Health: 200 once the model is loaded"}},
        "/score": {
            "post": {
                "summary": "Score: the JSON body goes to the entry script's run()",
                "requestBody": {"content": {"application/json": {"schema": {}}}},
                "responses": {
                    "200": {"description": "run()'s result, as JSON"},
                    "400": {
                        "description": "The body is not JSON, is nested too deeply, or has "
                        "the wrong shape"
                    },
                    "413": {"description": "The body is over the service's size limit"},
                    "500": {"description": "run() raised; the error is in the body"},
                },
            }
        },
    },
}


class BadInput(Exception):
    """The request is wrong (not the service): answered 400 with the message."""


class _NoCodeScorer:
    """A scikit-learn model with no entry script: ``{"data": rows}`` -> ``predict(rows)``."""

    def __init__(self, model_file: Path) -> None:
        self.model_file = model_file
        self.model: Any = None

    def init(self) -> None:
        if self.model_file.suffix in (".joblib", ".jl"):
            import joblib

            self.model = joblib.load(self.model_file)
        else:
            with open(self.model_file, "rb") as f:
                self.model = pickle.load(f)  # the workspace's own registered model

    def run(self, raw_data: str) -> Any:
        body = json.loads(raw_data)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise BadInput('Send {"data": [[feature, ...], ...]}: one list of features per row.')
        import numpy as np

        try:
            rows = np.asarray(body["data"], dtype=float)
            if rows.ndim != 2:
                raise ValueError(f"data must be a list of rows (2 dimensions), got {rows.ndim}")
            return self.model.predict(rows).tolist()
        except (ValueError, TypeError) as exc:
            raise BadInput(f"Wrong input for this model: {exc}") from None


def load_scorer(spec: dict[str, Any]) -> Any:
    """The entry script as a module (with ``init``/``run``), or the no-code scorer."""
    if spec.get("entry_script"):
        source = Path(spec["source_directory"])
        sys.path.insert(0, str(source))
        path = source / spec["entry_script"]
        module_spec = importlib.util.spec_from_file_location("score", path)
        assert module_spec is not None and module_spec.loader is not None
        module: ModuleType = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
        for name in ("init", "run"):
            if not callable(getattr(module, name, None)):
                raise RuntimeError(f"The entry script {spec['entry_script']} has no {name}().")
        return module
    return _NoCodeScorer(Path(spec["no_code_model_file"]))


class _Stats:
    """One append-only line per request: ``[unix time, milliseconds, status]``."""

    def __init__(self, files: ServiceFolder) -> None:
        path = files.stats_file(os.getpid())
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "a", buffering=1)  # noqa: SIM115

    def add(self, seconds: float, status: int) -> None:
        self.file.write(f"[{time.time():.3f},{seconds * 1000:.3f},{status}]\n")


def _score(scorer: Any, body: bytes) -> tuple[int, str]:
    """One request's scoring work (in the worker's scoring thread): status and JSON answer."""
    try:
        try:
            raw = body.decode("utf-8")
            json.loads(raw)
        except RecursionError:
            raise BadInput(
                "The request body is JSON nested too deeply to parse (over about "
                f"{sys.getrecursionlimit()} levels of [ or {{); send flatter data."
            ) from None
        except (UnicodeDecodeError, ValueError) as exc:
            raise BadInput(f"The request body is not JSON: {exc}") from None
        return 200, json.dumps(scorer.run(raw), default=str)
    except BadInput as exc:
        return 400, json.dumps({"error": str(exc)})
    except Exception as exc:
        traceback.print_exc()
        return 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"})


class _Base(web.RequestHandler):
    def check_xsrf_cookie(self) -> None:  # a JSON API: no cookies, no forms
        pass

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")


class _Health(_Base):
    # Answered by the worker's event loop, never behind run(): a busy worker is not a dead one.
    def get(self) -> None:
        self.finish({"status": "Healthy", "service": self.settings["service_name"]})


class _OpenApi(_Base):
    def get(self) -> None:
        self.finish(OPENAPI)


@web.stream_request_body
class _Score(_Base):
    """The body arrives in chunks: past the size limit they are dropped (memory stays bounded)
    and read to the end, so the client gets a 413 that says why instead of a cut connection."""

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        self._size = 0
        self._start = time.perf_counter()
        hashes = self.settings.get("key_hashes")
        if hashes and not authorized(self.request.headers.get("Authorization"), hashes):
            # Before the body is read: a caller without a key costs no more than this.
            self.set_status(401)
            self.set_header("WWW-Authenticate", "Bearer")
            self.finish({"error": "This service needs a key: send 'Authorization: Bearer KEY' "
                         "(service.get_keys())."})  # fmt: skip
            return
        self.request.connection.set_max_body_size(2**62)  # type: ignore[union-attr]

    def data_received(self, chunk: bytes) -> None:
        self._size += len(chunk)
        if self._size <= self.settings["max_body_bytes"]:
            self._chunks.append(chunk)
        else:
            self._chunks.clear()

    async def post(self) -> None:
        limit = self.settings["max_body_bytes"]
        if self._size > limit:
            status, body = (
                413,
                json.dumps(
                    {
                        "error": f"The request body is {self._size} bytes; this service takes at "
                        f"most {limit} bytes (AML_SERVICE_MAX_BODY_BYTES when it was deployed): "
                        "send fewer rows per request."
                    }
                ),
            )
        else:
            # run() in the scoring thread: the event loop stays free for the health route.
            status, body = await IOLoop.current().run_in_executor(
                self.settings["scoring_thread"], _score, self.settings["scorer"],
                b"".join(self._chunks),
            )  # fmt: skip
        # Counted before the answer leaves: whoever reads the figures next sees this request.
        self.settings["stats"].add(time.perf_counter() - self._start, status)
        self.set_status(status)
        self.finish(body)

    def log_exception(self, *args: Any) -> None:  # already printed with the request's error
        pass


def serve(files: ServiceFolder, spec: dict[str, Any], supervisor: int) -> None:
    """One worker: load the model, listen, answer until killed or orphaned; never returns."""
    import tornado.netutil
    from tornado.httpserver import HTTPServer

    scorer = load_scorer(spec)
    scorer.init()
    # Each worker binds the port itself (SO_REUSEPORT), once its model is loaded: the kernel
    # spreads connections over the ready workers only.
    workers = spec.get("workers", 1)
    sockets = tornado.netutil.bind_sockets(
        spec["port"], address="127.0.0.1", reuse_port=workers > 1
    )
    files.ready_flag.touch()  # init() done once: a later silence means unhealthy
    app = web.Application(
        [("/", _Health), ("/score", _Score), ("/swagger.json", _OpenApi)],
        scorer=scorer,
        # One thread: run() calls stay one at a time per worker, as in v1, so entry scripts
        # need not be thread-safe; more workers score in parallel.
        scoring_thread=ThreadPoolExecutor(1, thread_name_prefix="run"),
        stats=_Stats(files),
        service_name=spec["name"],
        max_body_bytes=int(spec.get("max_body_bytes") or MAX_BODY_BYTES),
        key_hashes=list(spec.get("auth_key_hashes") or []),
    )
    server = HTTPServer(app)
    server.add_sockets(sockets)

    def orphaned() -> None:  # the supervisor was killed: no one would restart or stop us
        if os.getppid() != supervisor:
            print(f"worker {os.getpid()}: the supervisor is gone; stopping", flush=True)
            os._exit(0)  # at once, even while run() is busy in its thread

    PeriodicCallback(orphaned, 500).start()
    print(f"service {spec['name']!r} ready on port {spec['port']} (pid {os.getpid()})", flush=True)
    IOLoop.current().start()
    os._exit(0)


def container_spec(settings_file: Path) -> dict[str, Any]:
    """Inside an ACI-style container: the settings baked into the image, and what the
    container was started with (name, port, the keys' hashes, the body limit)."""
    spec = dict(json.loads(settings_file.read_text()))
    hashes = os.environ.get("AML_SERVICE_KEY_HASHES", "")
    spec.update(
        name=os.environ.get("AML_SERVICE_NAME", "service"),
        port=int(os.environ["AML_SERVICE_PORT"]),
        workers=1,
        auth_key_hashes=[h for h in hashes.split(",") if h],
        max_body_bytes=int(os.environ.get("AML_SERVICE_MAX_BODY_BYTES") or MAX_BODY_BYTES),
    )
    return spec


def main(argv: list[str] | None = None) -> int:
    args = argv or sys.argv[1:]
    if args[0] == "--container":
        import tempfile

        spec = container_spec(Path(args[1]))
        files = ServiceFolder(Path(tempfile.gettempdir()) / "aml-service")
        files.root.mkdir(parents=True, exist_ok=True)
        return _supervise(files, spec)
    workspace_folder, name = args[:2]
    store = open_store(Path(workspace_folder))
    try:
        record = store.get_service(name)
        files = store.service_folder(name)
    finally:
        store.close()  # before any fork: a worker never shares the supervisor's connection
    if record is None:
        print(f"service {name!r} is not in the workspace {workspace_folder} any more", flush=True)
        return 1
    return _supervise(files, dict(record.spec))


def _supervise(files: ServiceFolder, spec: dict[str, Any]) -> int:
    os.environ["AZUREML_MODEL_DIR"] = spec["model_dir"]
    files.ready_flag.unlink(missing_ok=True)  # "ready" is about this start only
    supervisor = os.getpid()
    return supervise(
        spec.get("workers", 1),
        lambda _number: serve(files, spec, supervisor),
        files.ready_flag.exists,
    )


if __name__ == "__main__":
    sys.exit(main())

"""A deployed model's scoring service: ``python -m aml_jupyter.scoring_server SERVICE_DIR``.

Started detached by :meth:`Model.deploy` (see :mod:`aml_jupyter.deployment`). It reads
``SERVICE_DIR/service.json``, sets ``AZUREML_MODEL_DIR`` as v1 does, binds its port once and,
for ``workers > 1``, forks that many worker processes sharing the socket (the kernel balances
connections). Each worker calls the entry script's ``init()`` once, then ``run(raw_data)`` per
request (v1's contract: ``raw_data`` is the request body as a string). A scikit-learn model
deployed without an entry script gets a built-in one: ``predict`` on ``{"data": [...]}``.

Routes: ``GET /`` health (200 once ``init()`` is done), ``POST /score`` (JSON in, JSON out;
400 for a body that is not JSON or has the wrong shape, 500 with the error when ``run()``
raises: the service stays up), ``GET /swagger.json`` (OpenAPI). Every request's latency and
status go to a per-worker file under ``stats/``, read by ``service.get_stats()``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pickle
import sys
import time
import traceback
from pathlib import Path
from types import ModuleType
from typing import Any

from tornado import web

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
                    "400": {"description": "The body is not JSON, or has the wrong shape"},
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

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.file = open(folder / f"{os.getpid()}.jsonl", "a", buffering=1)  # noqa: SIM115

    def add(self, seconds: float, status: int) -> None:
        self.file.write(f"[{time.time():.3f},{seconds * 1000:.3f},{status}]\n")


class _Base(web.RequestHandler):
    def check_xsrf_cookie(self) -> None:  # a JSON API: no cookies, no forms
        pass

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json")


class _Health(_Base):
    def get(self) -> None:
        self.finish({"status": "Healthy", "service": self.settings["service_name"]})


class _OpenApi(_Base):
    def get(self) -> None:
        self.finish(OPENAPI)


class _Score(_Base):
    def post(self) -> None:
        start = time.perf_counter()
        try:
            try:
                raw = self.request.body.decode("utf-8")
                json.loads(raw)
            except (UnicodeDecodeError, ValueError) as exc:
                raise BadInput(f"The request body is not JSON: {exc}") from None
            status, body = 200, json.dumps(self.settings["scorer"].run(raw), default=str)
        except BadInput as exc:
            status, body = 400, json.dumps({"error": str(exc)})
        except Exception as exc:
            traceback.print_exc()
            status, body = 500, json.dumps({"error": f"{type(exc).__name__}: {exc}"})
        # Counted before the answer leaves: whoever reads the figures next sees this request.
        self.settings["stats"].add(time.perf_counter() - start, status)
        self.set_status(status)
        self.finish(body)

    def log_exception(self, *args: Any) -> None:  # already printed with the request's error
        pass


def main(argv: list[str] | None = None) -> int:
    import tornado.ioloop
    import tornado.netutil
    import tornado.process
    from tornado.httpserver import HTTPServer

    folder = Path((argv or sys.argv[1:])[0])
    spec = json.loads((folder / "service.json").read_text())
    os.environ["AZUREML_MODEL_DIR"] = spec["model_dir"]
    workers = spec.get("workers", 1)
    if workers > 1:
        # One process per worker; a worker that dies is started again (a few times: one whose
        # init() fails would only fail again).
        tornado.process.fork_processes(workers, max_restarts=3)
    scorer = load_scorer(spec)
    scorer.init()
    # Each worker binds the port itself (SO_REUSEPORT), once its model is loaded: the kernel
    # spreads connections over the ready workers only.
    sockets = tornado.netutil.bind_sockets(
        spec["port"], address="127.0.0.1", reuse_port=workers > 1
    )
    (folder / "ready").touch()  # init() done once: a later silence means unhealthy
    app = web.Application(
        [("/", _Health), ("/score", _Score), ("/swagger.json", _OpenApi)],
        scorer=scorer,
        stats=_Stats(folder / "stats"),
        service_name=spec["name"],
    )
    server = HTTPServer(app, max_body_size=64 * 1024 * 1024)
    server.add_sockets(sockets)
    print(f"service {spec['name']!r} ready on port {spec['port']} (pid {os.getpid()})", flush=True)
    tornado.ioloop.IOLoop.current().start()
    return 0


if __name__ == "__main__":
    sys.exit(main())

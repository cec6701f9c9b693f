"""The REST API under ``<base_url>aml/api/``: thin tornado handlers over :mod:`.service`.

Every verb is authenticated like the rest of Jupyter; store work runs on a small thread pool,
never on the event loop. Errors answer JSON ``{"message", "reason", "fix"}``. The API is
described in ``openapi.yaml`` beside this file (also served at ``aml/api/openapi.yaml``).
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join
from tornado import web
from tornado.ioloop import IOLoop

from ...errors import AmlError
from ...tracking.query import parse_tag
from .api_error import ApiError
from .boardproxy import BoardProxyHandler, BoardShimHandler
from .chartdata import DEFAULT_POINTS, MAX_POINTS, MIN_POINTS
from .data_routes import DEFAULT_FILES, MAX_FILES
from .registry_routes import DEFAULT_LOG_LINES, MAX_LOG_LINES
from .service import MAX_OFFSET, MAX_PAGE, WorkspaceService
from .wire import BadBody, dumps, loads_body

#: Store work runs here: SQLite serialises per workspace anyway, a few threads keep the
#: server answering while one request reads a large file.
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="aml-api")
#: File downloads go out in pieces this big.
_CHUNK = 1 << 20
#: Types a browser may show inline from a run's files; anything else (HTML, SVG, scripts)
#: is sent as a download, so a run's output can never run script in Jupyter's origin.
_INLINE_TYPES = {
    "text/plain",
    "text/csv",
    "application/json",
    "image/png",
    "image/jpeg",
    "image/gif",
}
SPEC = Path(__file__).with_name("openapi.yaml")


class _Refused(web.HTTPError):
    """An HTTP error that carries our JSON body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body["message"].replace("%", "%%"))
        self.body = body


class AmlHandler(APIHandler):
    """Shared parts: the service, the thread pool, errors as JSON."""

    @property
    def service(self) -> WorkspaceService:
        return self.settings["aml_service"]

    async def call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs)`` on the pool; our errors become JSON 4xx answers."""
        try:
            return await IOLoop.current().run_in_executor(_POOL, partial(fn, *args, **kwargs))
        except ApiError as e:
            raise _Refused(e.status, {"message": str(e), "reason": e.reason, "fix": e.fix}) from e
        except AmlError as e:
            raise _Refused(400, {"message": str(e), "reason": "bad-request", "fix": None}) from e

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, _Refused):
            self.set_header("Content-Type", "application/json")
            self.finish(dumps(exc.body))
            return
        super().write_error(status_code, **kwargs)

    def refuse(self, message: str) -> _Refused:
        return _Refused(400, {"message": message, "reason": "bad-request", "fix": None})

    def int_argument(
        self, name: str, default: int | None, low: int = 0, high: int = MAX_OFFSET
    ) -> int | None:
        """A whole-number query argument in ``low..high``; anything else answers 400."""
        text = self.get_query_argument(name, None)
        if text is None or text == "":
            return default
        try:
            value = int(text)
        except ValueError:  # also past int()'s digit limit
            raise self.refuse(f"{name} must be a whole number, got {text[:40]!r}.") from None
        if not low <= value <= high:
            bounds = f"{low} or more and below 2**63" if high == MAX_OFFSET else f"{low} to {high}"
            raise self.refuse(f"{name} must be {bounds}, got {text[:40]}.")
        return value

    def json_body(self) -> Any:
        try:
            return loads_body(self.request.body)
        except BadBody as e:
            raise self.refuse(str(e)) from None

    async def reply(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        # One writer for every answer: strict JSON (no NaN or Infinity, see wire.py).
        self.finish(dumps(await self.call(fn, *args, **kwargs)))


class WorkspaceHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.reply(self.service.workspace_info)

    @web.authenticated
    async def post(self) -> None:
        await self.reply(self.service.create_workspace)


class ExperimentsHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        view_type = self.get_query_argument("view_type", "ActiveOnly")
        await self.reply(self.service.experiments, view_type)


class ComputeHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.reply(self.service.compute)


class RunsHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        statuses = [s for arg in self.get_query_arguments("status") for s in arg.split(",") if s]
        try:
            tags = dict(parse_tag(t) for t in self.get_query_arguments("tag"))
        except AmlError as e:
            raise self.refuse(str(e)) from None
        order = self.get_query_argument("order", "desc")
        if order not in ("asc", "desc"):
            raise self.refuse(f"order must be 'asc' or 'desc', got {order!r}.")
        await self.reply(
            self.service.runs,
            experiment=self.get_query_argument("experiment", None) or None,
            status=statuses or None,
            tags=tags or None,
            text=self.get_query_argument("q", None),
            parent=self.get_query_argument("parent", None) or None,
            sort=self.get_query_argument("sort", "created"),
            descending=order == "desc",
            offset=self.int_argument("offset", 0),
            limit=self.int_argument("limit", 50, low=1, high=MAX_PAGE),
        )


class RunHandler(AmlHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        await self.reply(self.service.run, run_id)


class LogHandler(AmlHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        await self.reply(
            self.service.log,
            run_id,
            self.int_argument("offset", None),
            self.int_argument("tail", None, low=1),
        )


class MetricsHandler(AmlHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        await self.reply(
            self.service.metrics,
            run_id,
            self.get_query_argument("cursor", None),
            self.int_argument("points", DEFAULT_POINTS, low=MIN_POINTS, high=MAX_POINTS)
            or DEFAULT_POINTS,
            self.get_query_argument("metric", None) or None,
            self.int_argument("from_step", None, low=-MAX_OFFSET),
            self.int_argument("to_step", None, low=-MAX_OFFSET),
        )


class FilesHandler(AmlHandler):
    @web.authenticated
    async def get(self, run_id: str) -> None:
        await self.reply(self.service.files, run_id)


class FileHandler(AmlHandler):
    @web.authenticated
    async def get(self, run_id: str, name: str) -> None:
        stream = await self.call(self.service.open_file, run_id, name)
        try:
            kind = mimetypes.guess_type(name)[0] or "application/octet-stream"
            download = self.get_query_argument("download", "") not in ("", "0", "false")
            if kind not in _INLINE_TYPES:
                kind, download = "application/octet-stream", True
            self.set_header("Content-Type", kind)
            self.set_header("X-Content-Type-Options", "nosniff")
            self.set_header("Content-Security-Policy", "sandbox")
            if download:
                filename = Path(name).name.replace('"', "")
                self.set_header("Content-Disposition", f'attachment; filename="{filename}"')
            while chunk := await IOLoop.current().run_in_executor(_POOL, stream.read, _CHUNK):
                self.write(chunk)
                await self.flush()
        finally:
            stream.close()
        self.finish()


class CancelHandler(AmlHandler):
    @web.authenticated
    async def post(self, run_id: str) -> None:
        await self.reply(self.service.cancel, run_id)


class TagsHandler(AmlHandler):
    @web.authenticated
    async def patch(self, run_id: str) -> None:
        await self.reply(self.service.edit_tags, run_id, self.json_body())


class TensorboardHandler(AmlHandler):
    @web.authenticated
    async def post(self, run_id: str) -> None:
        await self.reply(self.service.tensorboard, run_id, self.base_url)


class ModelsHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        latest = self.get_query_argument("latest", "") not in ("", "0", "false")
        await self.reply(self.service.models, self.get_query_argument("name", None), latest)


class ModelHandler(AmlHandler):
    @web.authenticated
    async def get(self, name: str, version: str) -> None:
        await self.reply(self.service.model, name, int(version))


class ServicesHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.reply(self.service.services)


class ServiceHandler(AmlHandler):
    @web.authenticated
    async def delete(self, name: str) -> None:
        await self.reply(self.service.delete_service, name)


class ServiceLogsHandler(AmlHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        lines = self.int_argument("lines", DEFAULT_LOG_LINES, low=1, high=MAX_LOG_LINES)
        await self.reply(self.service.service_logs, name, lines or DEFAULT_LOG_LINES)


class DatasetsHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.reply(self.service.datasets)


class DatasetHandler(AmlHandler):
    @web.authenticated
    async def get(self, name: str) -> None:
        await self.reply(self.service.dataset, name)


class DatasetVersionHandler(AmlHandler):
    @web.authenticated
    async def get(self, name: str, version: str) -> None:
        await self.reply(
            self.service.dataset_version,
            name,
            int(version),
            self.int_argument("offset", 0) or 0,
            self.int_argument("limit", DEFAULT_FILES, low=1, high=MAX_FILES) or DEFAULT_FILES,
        )


class DatastoresHandler(AmlHandler):
    @web.authenticated
    async def get(self) -> None:
        await self.reply(self.service.datastores)


class SpecHandler(AmlHandler):
    @web.authenticated
    def get(self) -> None:
        self.set_header("Content-Type", "application/yaml")
        self.finish(SPEC.read_bytes())


def setup_handlers(web_app: Any) -> None:
    """Route ``<base_url>aml/api/...`` to the handlers above."""
    base = url_path_join(web_app.settings["base_url"], "aml", "api")
    run = r"/runs/(?P<run_id>[A-Za-z0-9_.-]+)"
    dataset = r"/datasets/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,254})"
    service = r"/services/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]{0,254})"
    routes: list[tuple[str, type[AmlHandler]]] = [
        ("/workspace", WorkspaceHandler),
        ("/experiments", ExperimentsHandler),
        ("/compute", ComputeHandler),
        ("/openapi.yaml", SpecHandler),
        ("/runs", RunsHandler),
        (run, RunHandler),
        (run + "/log", LogHandler),
        (run + "/metrics", MetricsHandler),
        (run + "/files", FilesHandler),
        (run + "/files/(?P<name>.+)", FileHandler),
        (run + "/cancel", CancelHandler),
        (run + "/tags", TagsHandler),
        (run + "/tensorboard", TensorboardHandler),
        ("/models", ModelsHandler),
        (r"/models/(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)/(?P<version>[0-9]{1,9})", ModelHandler),
        ("/services", ServicesHandler),
        (service, ServiceHandler),
        (service + "/logs", ServiceLogsHandler),
        ("/datasets", DatasetsHandler),
        (dataset, DatasetHandler),
        (dataset + "/(?P<version>[0-9]{1,9})", DatasetVersionHandler),
        ("/datastores", DatastoresHandler),
    ]
    handlers: list[Any] = [(base + path, handler) for path, handler in routes]
    board = url_path_join(web_app.settings["base_url"], "aml", "tensorboard")
    handlers += [
        web.url(board + "/shim.js", BoardShimHandler, name="aml-board-shim"),
        (board + r"/(?P<key>[A-Za-z0-9_-]{20,})/(?P<path>.*)", BoardProxyHandler),
    ]
    web_app.add_handlers(".*$", handlers)

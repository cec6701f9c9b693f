"""The agent's HTTP plumbing: the token checked from the headers, bodies capped per route.

Every handler streams its request body (``stream_request_body``), so ``prepare`` runs as soon
as the headers are in, before a byte of body is read. Tornado buffers a non-streaming
handler's whole body first: a client without the token could make the agent hold
``max_body_size`` per connection. Here a request without the right token, or declaring a body
over its route's cap, is answered (401, 413) from its headers and the connection is closed; a
JSON route keeps at most :data:`MAX_JSON_BYTES`, and only blob uploads, streamed to disk while
hashed, may be larger.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from tornado import web

#: A JSON request body (submit, sync offsets, the list of blobs to check).
MAX_JSON_BYTES = 1024 * 1024
#: A blob upload (one snapshot file), streamed to disk.
MAX_BLOB_BYTES = 2 * 1024**3
#: What the server lets any connection declare; each route's own cap is set in ``prepare``.
SERVER_MAX_BODY = MAX_BLOB_BYTES


class ApiError(web.HTTPError):
    """An error answer: the status, and a message for the body (HTTP reason phrases are too
    restricted for messages that say what to do)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(status)
        self.message = message


@web.stream_request_body
class Handler(web.RequestHandler):
    """JSON in and out; our errors as ``{"message": ...}`` with a 4xx status; the body
    capped at :attr:`max_body` from its declared length, before any of it is read."""

    max_body = MAX_JSON_BYTES

    def check_xsrf_cookie(self) -> None:  # token auth, no cookies
        pass

    def body_limit(self) -> int:
        """The most bytes this request's body may have (per route, per method)."""
        return self.max_body

    def prepare(self) -> None:
        self._chunks: list[bytes] = []
        limit = self.body_limit()
        declared = self.request.headers.get("Content-Length")
        if declared is not None:
            if not declared.strip().isdigit():
                self.refuse(400, "Content-Length must be a number of bytes.")
            if int(declared) > limit:
                self.refuse(
                    413,
                    f"The request body is {int(declared)} bytes; {self.request.path} takes at "
                    f"most {limit}.",
                )
        # Also caps chunked bodies, which declare no length.
        self.request.connection.set_max_body_size(limit)  # type: ignore[union-attr]

    def refuse(self, status: int, message: str) -> None:
        """Answer from the headers alone; the unread body is dropped with the connection."""
        # Tornado drops what is still coming without handing it to us, until it has sent this
        # answer and closed; a lower cap would make it add a second answer of its own.
        self.request.connection.set_max_body_size(SERVER_MAX_BODY)  # type: ignore[union-attr]
        raise ApiError(status, message)

    def data_received(self, chunk: bytes) -> None:
        self._chunks.append(chunk)  # at most body_limit() in all: tornado enforces it

    def body_json(self) -> dict[str, Any]:
        try:
            body = json.loads(b"".join(self._chunks) or b"{}")
        except ValueError:
            raise ApiError(400, "The request body is not JSON.") from None
        if not isinstance(body, dict):
            raise ApiError(400, "The request body must be a JSON object.")
        return body

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None))[1]
        message = exc.message if isinstance(exc, ApiError) else self._reason
        self.finish({"message": message, "status": status_code})


class Unauthorized(Handler):
    """Every request without the right token, whatever its path."""

    def prepare(self) -> None:
        self.set_header("WWW-Authenticate", 'Bearer realm="aml-agent"')
        self.refuse(401, "Missing or wrong token: send 'Authorization: Bearer <token>'.")


class NotFound(Handler):
    def prepare(self) -> None:
        self.refuse(404, f"No such route: {self.request.path}.")


class TokenApplication(web.Application):
    """An application whose :meth:`find_handler` checks the bearer token before routing:
    without it every path, known or not, is :class:`Unauthorized` (answered from headers)."""

    def __init__(self, routes: list[Any], token: str, **settings: Any) -> None:
        self._token = token.encode()
        super().__init__(routes, default_handler_class=NotFound, **settings)

    def authorized(self, request: Any) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, given = header.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), self._token
        )

    def find_handler(self, request: Any, **kwargs: Any) -> Any:
        if not self.authorized(request):
            return self.get_handler_delegate(request, Unauthorized)
        return super().find_handler(request, **kwargs)

"""TensorBoard for the sidebar, in an origin of its own: ``<base_url>aml/tensorboard/<key>/``.

Through jupyter-server-proxy TensorBoard's pages run in Jupyter's origin, so a frame around
them needs ``allow-same-origin`` (else its requests carry no Jupyter cookie), and a frame with
``allow-scripts allow-same-origin`` on its own origin is no sandbox at all: a script in it can
reach Jupyter's API with the user's session. Here every answer comes with
``Content-Security-Policy: sandbox allow-scripts ...`` (no ``allow-same-origin``), so the
browser gives TensorBoard's pages an opaque origin of their own, however they are opened
(frame or tab). Their requests then carry no cookie, so this route is authorised by the
unguessable key in its path instead: the key is given only to a signed-in user (``POST
runs/{id}/tensorboard``), opens only the TensorBoard that answer started, and grants nothing
of Jupyter. Answers allow any origin to read them (``Access-Control-Allow-Origin: *``, no
credentials), which is what lets the opaque-origin page fetch its data.
"""

from __future__ import annotations

import re
import secrets
import threading
from typing import Any
from urllib.parse import quote

from tornado import httpclient, web

#: The sandbox every answer puts its page in: scripts yes, Jupyter's origin never.
SANDBOX = "sandbox allow-scripts allow-popups allow-downloads"
#: Request headers passed on to TensorBoard (no cookie, no authorization).
_REQUEST_HEADERS = (
    "Accept",
    "Accept-Language",
    "Content-Type",
    "X-TensorBoard-Feature-Flags",
    "X-XSRF-Protected",
)
#: Answer headers passed back (the body is decoded, so no encoding or length of TensorBoard's).
_ANSWER_HEADERS = (
    "Content-Type",
    "Content-Disposition",
    "Cache-Control",
    "ETag",
    "Expires",
    "Last-Modified",
    "Location",
)
#: The largest answer passed back (TensorBoard's biggest are a few MB of scalars).
_MAX_BODY = 256 << 20


#: Run first in every page. In an opaque origin the browser's storage and cookies throw on any
#: use, and a worker cannot be made from the page's own scripts: TensorBoard keeps its settings
#: in memory for the page's life, finds no cookie, and draws its charts without a worker.
SHIM = """(function () {
  if (window.origin !== "null") { return; }  // not sandboxed: nothing to stand in for
  function memoryStorage() {
    var data = new Map();
    return {
      get length() { return data.size; },
      key: function (i) { var k = Array.from(data.keys())[i]; return k === undefined ? null : k; },
      getItem: function (k) { k = String(k); return data.has(k) ? data.get(k) : null; },
      setItem: function (k, v) { data.set(String(k), String(v)); },
      removeItem: function (k) { data.delete(String(k)); },
      clear: function () { data.clear(); }
    };
  }
  ["localStorage", "sessionStorage"].forEach(function (name) {
    Object.defineProperty(window, name, { value: memoryStorage(), configurable: true });
  });
  Object.defineProperty(document, "cookie", {
    get: function () { return ""; }, set: function () {}, configurable: true
  });
  delete window.OffscreenCanvas;  // TensorBoard then draws on the page, not in a worker
})();
"""


def _with_shim(html: bytes, src: str) -> bytes:
    """``html`` with the shim's script first in its head (TensorBoard's CSP allows 'self')."""
    tag = f'<script src="{src}"></script>'.encode()
    match = re.search(rb"<head[^>]*>", html, re.IGNORECASE)
    at = match.end() if match else 0
    return html[:at] + tag + html[at:]


class BoardKeys:
    """Keys of the TensorBoards this server started for the sidebar: key -> local port."""

    def __init__(self) -> None:
        self._ports: dict[str, int] = {}
        self._lock = threading.Lock()

    def key_for(self, port: int) -> str:
        """The key of ``port`` (one per port, made on first use)."""
        with self._lock:
            for key, known in self._ports.items():
                if known == port:
                    return key
            key = secrets.token_urlsafe(32)
            self._ports[key] = port
            return key

    def port_of(self, key: str) -> int | None:
        with self._lock:
            # Compared in constant time: a key is a password.
            for known, port in self._ports.items():
                if secrets.compare_digest(known, key):
                    return port
        return None


class BoardProxyHandler(web.RequestHandler):
    """Forwards ``<key>/<path>`` to ``http://127.0.0.1:<port>/<path>``, sandboxed."""

    SUPPORTED_METHODS = ("GET", "HEAD", "POST", "OPTIONS")

    def set_default_headers(self) -> None:
        self.set_header("Content-Security-Policy", f"{SANDBOX}; frame-ancestors 'self'")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.set_header("Referrer-Policy", "no-referrer")  # the key never leaves in a Referer
        self.set_header("X-Content-Type-Options", "nosniff")
        self.clear_header("Server")

    def check_xsrf_cookie(self) -> None:
        """No cookie authorises this route (the key does), so there is no cross-site forgery
        to guard against; the opaque-origin page could not send Jupyter's XSRF token anyway."""

    def options(self, key: str, path: str) -> None:
        # The preflight of a request with TensorBoard's own header, from the opaque origin.
        self.set_header("Access-Control-Allow-Methods", "GET, HEAD, POST")
        self.set_header("Access-Control-Allow-Headers", ", ".join(_REQUEST_HEADERS))
        self.set_header("Access-Control-Max-Age", "600")
        self.set_status(204)
        self.finish()

    async def get(self, key: str, path: str) -> None:
        await self._forward(key, path)

    async def head(self, key: str, path: str) -> None:
        await self._forward(key, path)

    async def post(self, key: str, path: str) -> None:
        await self._forward(key, path)

    async def _forward(self, key: str, path: str) -> None:
        port = self.settings["aml_service"].board_keys.port_of(key)
        if port is None:
            raise web.HTTPError(404, "No such TensorBoard (open it again from the run panel).")
        query = f"?{self.request.query}" if self.request.query else ""
        path = quote(path, safe="/-._~!$&'()*+,;=:@")  # tornado decoded it: no CR, LF or ? gets by
        headers = {h: v for h in _REQUEST_HEADERS if (v := self.request.headers.get(h))}
        request = httpclient.HTTPRequest(
            f"http://127.0.0.1:{port}/{path}{query}",
            method=self.request.method or "GET",
            headers=headers,
            body=self.request.body if self.request.method == "POST" else None,
            follow_redirects=False,
            request_timeout=120,
        )
        client = httpclient.AsyncHTTPClient(max_body_size=_MAX_BODY)
        try:
            answer = await client.fetch(request, raise_error=False)
        except OSError:
            raise web.HTTPError(502, "TensorBoard is not answering (open it again).") from None
        if answer.code == 599:  # no answer at all (refused, timed out)
            raise web.HTTPError(502, "TensorBoard is not answering (open it again).")
        self.set_status(answer.code, answer.reason)
        for name in _ANSWER_HEADERS:
            if value := answer.headers.get(name):
                self.set_header(name, value)
        for value in answer.headers.get_list("Content-Security-Policy"):
            self.add_header("Content-Security-Policy", value)  # TensorBoard's beside ours
        body = answer.body or b""
        if answer.headers.get("Content-Type", "").startswith("text/html"):
            body = _with_shim(body, self.reverse_url("aml-board-shim"))
        if body and self.request.method != "HEAD":
            self.write(body)
        self.finish()

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        self.set_header("Content-Type", "text/plain; charset=utf-8")
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else ""
        self.finish(message or self._reason)


class BoardShimHandler(web.RequestHandler):
    """The storage shim (:data:`SHIM`), a static script any page may load."""

    def get(self) -> None:
        self.set_header("Content-Type", "text/javascript; charset=utf-8")
        self.set_header("Cache-Control", "max-age=3600")
        self.set_header("Access-Control-Allow-Origin", "*")
        self.finish(SHIM)

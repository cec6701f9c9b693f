"""Kept-alive HTTP(S) connections to one compute-instance agent, for :class:`~.client.AgentClient`.

A small pool of idle ``http.client`` connections under a lock (threads may share a client);
an idle one is checked before reuse (the agent may have closed it). TLS checks the agent's
certificate against the attached CA file alone, else the system's CAs; ``$HTTP(S)_PROXY`` and
``$NO_PROXY`` are honoured (an https agent through a proxy: CONNECT, then TLS with the agent).
"""

from __future__ import annotations

import http.client
import os
import ssl
import threading
import urllib.parse

from ...errors import AmlError
from ..keepalive import connection_usable

#: Bytes of an uploaded file sent at a time (http.client's default is 8 KiB).
SEND_BYTES = 256 * 1024
#: Idle connections kept per agent address (more are closed when given back).
IDLE_MAX = 4


def _proxy_for(address: str) -> str | None:
    """The proxy for this address ($HTTP(S)_PROXY unless $NO_PROXY says otherwise), looked
    up once; nothing else comes from the environment (no ~/.netrc, no CA bundle)."""
    if not any(name.lower().endswith("_proxy") for name in os.environ):
        return None  # the usual case: no need to import urllib.request (~25 ms, in the mirror)
    import urllib.request

    parsed = urllib.parse.urlsplit(address)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parsed.scheme)
    if not proxy or urllib.request.proxy_bypass_environment(parsed.netloc, proxies):  # type: ignore[attr-defined]
        return None
    return proxy


def _host_port(url: str, default: int) -> tuple[str, int | None]:
    """The host and port of ``url`` (None for a port that is not one: refused when used)."""
    parsed = urllib.parse.urlsplit(url)
    try:
        return parsed.hostname or "", parsed.port or default
    except ValueError:
        return parsed.hostname or "", None


class Connections:
    """The kept-alive connections to one agent address: the idle ones in a list under a lock
    (shared by threads and by ``with_timeout`` clients), the last one given back taken first."""

    def __init__(self, address: str, token: str, ca_file: str | None) -> None:
        # The agent never compresses: its bytes arrive as sent, and are counted so.
        self.headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "identity"}
        self.https = address.startswith("https:")
        self.host, self.port = _host_port(address, 443 if self.https else 80)
        self.context: ssl.SSLContext | None = None
        if self.https:
            # The agent's certificate is checked against the attached CA file alone, else
            # the system's CAs (never a bundle found in the environment); hostname checked.
            self.context = ssl.create_default_context(cafile=ca_file)
        self.prefix = "/api/v1"
        self.proxy: tuple[str, int | None] | None = None
        self.proxy_context: ssl.SSLContext | None = None
        proxy = _proxy_for(address)
        if proxy:
            if "://" not in proxy:
                proxy = f"http://{proxy}"
            scheme = proxy.split("://", 1)[0].lower()
            if scheme not in ("http", "https") or (scheme == "https" and self.https):
                raise AmlError(
                    f"The {scheme}:// proxy set for {address} cannot carry its requests; set "
                    "an http:// proxy, or name the agent's host in $NO_PROXY."
                )
            self.proxy = _host_port(proxy, 443 if scheme == "https" else 80)
            if scheme == "https":
                self.proxy_context = ssl.create_default_context()
            if not self.https:
                self.prefix = f"{address}/api/v1"  # an absolute URI: the proxy forwards it
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()

    def take(self, timeout: float) -> http.client.HTTPConnection:
        """An idle connection still usable, else a new one (connected by its first request)."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return self._open(timeout)
            if conn.sock is not None and connection_usable(conn.sock):
                conn.sock.settimeout(timeout)
                return conn
            conn.close()  # the agent closed it while idle (or sent what nobody asked for)

    def _open(self, timeout: float) -> http.client.HTTPConnection:
        host, port = self.proxy or (self.host, self.port)
        if port is None or self.port is None:
            raise OSError("the port is not a number from 0 to 65535")
        conn: http.client.HTTPConnection
        if self.https or self.proxy_context:
            context = self.proxy_context or self.context
            conn = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=context, blocksize=SEND_BYTES
            )
            if self.https and self.proxy:
                conn.set_tunnel(self.host, self.port)  # CONNECT, then TLS with the agent
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout, blocksize=SEND_BYTES)
        return conn

    def give_back(self, conn: http.client.HTTPConnection) -> None:
        with self._lock:
            if len(self._idle) < IDLE_MAX:
                self._idle.append(conn)
                return
        conn.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

"""Kept-alive HTTP connections (``http.client``) of our clients: the compute-instance agent's
and the Ray job API's."""

from __future__ import annotations

import select
import ssl
from typing import Any


def connection_usable(sock: Any) -> bool:
    """Whether an idle connection can carry a request: nothing to read on it (readable means
    the server closed it, or sent bytes nobody asked for), as urllib3 checks."""
    if isinstance(sock, ssl.SSLSocket) and sock.pending():
        return False
    if hasattr(select, "poll"):
        poller = select.poll()
        poller.register(sock, select.POLLIN)
        return not poller.poll(0)
    return not select.select([sock], [], [], 0)[0]

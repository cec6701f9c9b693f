"""A Ray job's log as it grows: Ray's websocket tail (``/api/jobs/{id}/logs/tail``), read
with websocket-client (small, synchronous, no Ray needed on this side).

Ray 2.60 has no way to read a job's log from an offset: ``GET /logs`` sends it whole (10 MB
cost ~300 ms a poll here, most of a 250 ms poll period), the websocket sends it once from
the start, then each piece as the file grows (checked every second at its end). The mirror
reads small logs whole (lower latency) and switches to this past its ``WHOLE_READ_MAX``.
:meth:`LogTail.read` does not wait for text: it returns what has arrived.
"""

from __future__ import annotations

import select

import websocket

from ..remote import RemoteUnreachable

#: The most text one read takes, so a job logging fast cannot hold the mirror's poll.
READ_MAX_BYTES = 8 << 20


class LogTail:
    """One job's websocket tail; ``read()`` the text that has arrived, ``closed`` at its end
    (Ray closes it once the job has ended and its log is all sent)."""

    def __init__(self, address: str, job_id: str, headers: dict[str, str], timeout: float) -> None:
        url = "ws" + address.removeprefix("http") + f"/api/jobs/{job_id}/logs/tail"
        auth = [f"{k}: {v}" for k, v in headers.items() if k.lower() == "authorization"]
        self.closed = False
        try:
            self._ws = websocket.create_connection(url, timeout=timeout, header=auth)
        except (OSError, websocket.WebSocketException) as exc:
            raise RemoteUnreachable(f"the Ray job's log tail does not answer ({exc})") from None

    def _ready(self) -> bool:
        sock = self._ws.sock
        if sock is None:
            return False
        pending = getattr(sock, "pending", None)  # TLS: bytes already decrypted
        return bool(pending and pending()) or bool(select.select([sock], [], [], 0)[0])

    def read(self) -> str:
        """The log text that arrived since the last call (``""`` when none)."""
        texts: list[str] = []
        size = 0
        while not self.closed and size < READ_MAX_BYTES and self._ready():
            try:
                # A frame begun is read whole (Ray's are small); a ping is answered inside.
                opcode, data = self._ws.recv_data()
            except (OSError, websocket.WebSocketException):
                self.close()
                break
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                self.close()
            elif opcode == websocket.ABNF.OPCODE_TEXT:
                text = data.decode("utf-8", errors="replace")
                texts.append(text)
                size += len(data)
        return "".join(texts)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._ws.close(timeout=1)
            except (OSError, websocket.WebSocketException):
                pass

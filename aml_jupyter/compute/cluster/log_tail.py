"""A Ray job's log as it grows: Ray's websocket tail (``/api/jobs/{id}/logs/tail``), read
with a small standard-library client (no ``websockets``/``aiohttp`` here).

Ray 2.60 has no way to read a job's log from an offset: ``GET /logs`` sends it whole (10 MB
cost ~300 ms a poll here, most of a 250 ms poll period), the websocket sends it once from
the start, then each piece as the file grows (checked every second at its end). The mirror
reads small logs whole (lower latency) and switches to this past :data:`WHOLE_READ_MAX`.
:meth:`LogTail.read` never blocks: it returns what has arrived.
"""

from __future__ import annotations

import base64
import os
import select
import socket
import struct
import urllib.parse

from ..remote import RemoteUnreachable


class LogTail:
    """One job's websocket tail; ``read()`` the text that has arrived, ``closed`` at its end
    (Ray closes it once the job has ended and its log is all sent)."""

    def __init__(self, address: str, job_id: str, headers: dict[str, str], timeout: float) -> None:
        parsed = urllib.parse.urlsplit(address)
        host, port = parsed.hostname or "", parsed.port or (443 if parsed.scheme == "https" else 80)
        self.closed = False
        self._buffer = b""
        self._message = b""
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
            if parsed.scheme == "https":
                import ssl

                sock = ssl.create_default_context().wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode()
            lines = [
                f"GET {parsed.path}/api/jobs/{job_id}/logs/tail HTTP/1.1",
                f"Host: {parsed.netloc}",
                "Upgrade: websocket",
                "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13",
                *(f"{k}: {v}" for k, v in headers.items() if k.lower() == "authorization"),
            ]
            sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                piece = sock.recv(65536)
                if not piece:
                    raise OSError("closed during the websocket handshake")
                answer += piece
        except OSError as exc:
            raise RemoteUnreachable(f"the Ray job's log tail does not answer ({exc})") from None
        head, _, self._buffer = answer.partition(b"\r\n\r\n")
        if not head.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
            sock.close()
            status = head.split(b"\r\n", 1)[0].decode(errors="replace")
            raise RemoteUnreachable(f"Ray refused the job's log tail ({status})")
        sock.setblocking(False)
        self._sock = sock

    def read(self) -> str:
        """The log text that arrived since the last call (``""`` when none)."""
        if not self.closed:
            while select.select([self._sock], [], [], 0)[0]:
                try:
                    piece = self._sock.recv(1 << 20)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    piece = b""
                if not piece:
                    self.close()
                    break
                self._buffer += piece
        return self._frames()

    def _frames(self) -> str:
        """Decode the whole frames in the buffer: text (and its continuations) kept, a close
        ends the tail, a ping is answered."""
        texts = []
        buf = self._buffer
        while len(buf) >= 2:
            opcode, length, start = buf[0] & 0x0F, buf[1] & 0x7F, 2
            if length == 126:
                if len(buf) < 4:
                    break
                length, start = struct.unpack("!H", buf[2:4])[0], 4
            elif length == 127:
                if len(buf) < 10:
                    break
                length, start = struct.unpack("!Q", buf[2:10])[0], 10
            if buf[1] & 0x80:
                start += 4  # a masked frame (servers do not mask; skip the key all the same)
            if len(buf) < start + length:
                break
            payload, fin = buf[start : start + length], buf[0] & 0x80
            buf = buf[start + length :]
            if opcode in (0, 1):
                self._message += payload
                if fin:
                    texts.append(self._message.decode("utf-8", errors="replace"))
                    self._message = b""
            elif opcode == 8:
                self.close()
            elif opcode == 9:
                self._send(10, payload)
        self._buffer = buf
        return "".join(texts)

    def _send(self, opcode: int, payload: bytes) -> None:
        """A client frame (masked, as the protocol asks)."""
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        head = bytes([0x80 | opcode, 0x80 | len(payload)]) if len(payload) < 126 else b""
        try:
            self._sock.setblocking(True)
            self._sock.sendall(head + mask + masked)
            self._sock.setblocking(False)
        except OSError:
            self.close()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            try:
                self._sock.close()
            except OSError:
                pass

"""The tail of a run's driver log, read incrementally: what ``RunDetails`` shows of it.

Each :meth:`LogTail.read` asks the run only for the bytes written since the last one, keeps
the last lines (a line still being written apart), and shows a progress bar's line as a
terminal would: only what its last ``\\r`` left.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...tracking.run import Run

#: The first read of a long driver log starts this many bytes before its end.
FIRST_READ_BYTES = 256 * 1024


def _last_rewrite(line: str) -> str:
    """What a terminal shows for ``line``: progress bars rewrite it after each ``\\r``."""
    if "\r" not in line:
        return line
    parts = [part for part in line.split("\r") if part]
    return parts[-1] if parts else ""


class LogTail:
    """The last ``lines`` lines of a run's driver log, and the line being written."""

    def __init__(self, run: Run, lines: int = 500) -> None:
        self.run = run
        self.offset = 0
        self.lines: deque[str] = deque(maxlen=lines)
        self.partial = ""  # the last line while the script is still writing it
        #: True once earlier lines are no longer in the tail.
        self.truncated = False
        self._opened = False
        self._skip_partial = False

    def read(self) -> bool:
        """Read new driver log text (from the byte offset reached last time); whether any came.

        A long log is not read from its start: the first read begins :data:`FIRST_READ_BYTES`
        before its end, since only the tail is shown.
        """
        if not self._opened:
            size = self.run.get_log_size()
            if not size:
                return False  # not written yet
            self._opened = True
            if size > FIRST_READ_BYTES:
                self.offset = size - FIRST_READ_BYTES
                self.truncated = self._skip_partial = True
        text, self.offset = self.run.read_log_chunk(self.offset)
        if not text:
            return False
        lines = (self.partial + text).split("\n")
        self.partial = lines.pop()
        if self._skip_partial and lines:
            lines.pop(0)  # the first line of a read from the middle is cut
            self._skip_partial = False
        if len(self.lines) + len(lines) > (self.lines.maxlen or 0):
            self.truncated = True
        self.lines.extend(_last_rewrite(line) for line in lines)
        return True

    @property
    def text(self) -> str:
        """The tail as text (the last lines kept, and a line being written)."""
        body = "\n".join(self.lines)
        partial = _last_rewrite(self.partial)
        if partial:
            body = f"{body}\n{partial}" if self.lines else partial
        return body

"""Reading a run's driver log and waiting for a run to end: methods of :class:`aml_jupyter.Run`
(v1 names: ``get_details_with_logs``, ``wait_for_completion``; ``read_log_chunk`` and
``stream_log`` are the incremental reads the front ends poll with)."""

from __future__ import annotations

import codecs
import sys
import time
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ActivityFailedException, AmlError
from ..status import RunStatus
from ..store.run_folder import DRIVER_LOG

if TYPE_CHECKING:
    from .workspace import Workspace


class Writer(Protocol):
    """Where a log is streamed to: ``sys.stdout`` or anything with ``write`` and ``flush``."""

    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


class RunLogs:
    """``read_log``, ``read_log_chunk``, ``stream_log``, ``wait_for_completion``, ..."""

    _ws: Workspace
    _id: str

    if TYPE_CHECKING:

        def get_status(self) -> str: ...

        def get_details(self) -> dict[str, Any]: ...

    def get_details_with_logs(self) -> dict[str, Any]:
        """``get_details()`` plus the text of the driver log."""
        details = self.get_details()
        details["logFiles"] = {name: self.read_log() for name in details["logFiles"]}
        return details

    def read_log(self, offset: int = 0) -> str:
        """The driver log from byte ``offset`` on ('' when there is none yet)."""
        return self.read_log_chunk(offset)[0]

    def read_log_chunk(self, offset: int = 0, max_bytes: int | None = None) -> tuple[str, int]:
        """New driver log text from byte ``offset``, and the offset to ask from next time.

        A character the script is halfway through writing is left for the next call, so a
        follower never shows a broken character or loses its place. ``max_bytes`` caps one
        read (call again from the returned offset for the rest).
        """
        data = self._ws.store.read_log(self._id, offset, max_bytes)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        text = decoder.decode(data, final=False)
        pending = len(decoder.getstate()[0])
        return text, offset + len(data) - pending

    def get_log_size(self) -> int:
        """How many bytes the driver log has so far (0 before the script wrote any)."""
        return self._ws.store.log_size(self._id) or 0

    def get_log_tail_offset(self, max_bytes: int) -> int:
        """Where to read from to show the driver log's last lines: the first line that starts
        within its last ``max_bytes`` (0 for a shorter log)."""
        position = max(0, self.get_log_size() - max_bytes)
        if position == 0:
            return 0
        at = position - 1
        while chunk := self._ws.store.read_log(self._id, at, 65536):
            newline = chunk.find(b"\n")
            if newline >= 0:
                return at + newline + 1
            at += len(chunk)
        return position

    def stream_log(self, out: Writer | None = None, timeout_seconds: float | None = None) -> str:
        """Write the driver log to ``out`` as it grows (``tail -f``) until the run ends.

        Returns the final status. With ``out=None`` it only waits. Raises :class:`AmlError`
        after ``timeout_seconds``; Ctrl-C (KeyboardInterrupt) stops following, not the run.
        """
        offset = 0
        started = time.monotonic()
        deadline = None if timeout_seconds is None else started + timeout_seconds
        while True:
            status = self.get_status()  # before reading: a run that has ended wrote all its log
            if out is not None:
                text, offset = self.read_log_chunk(offset)
                if text:
                    out.write(text)
                    out.flush()
            if status in RunStatus.TERMINAL:
                return status
            if deadline is not None and time.monotonic() > deadline:
                raise AmlError(f"Run {self._id} is still {status} after {timeout_seconds} s.")
            # Quick polls while a short run may end any moment, slower ones for long runs.
            time.sleep(min(0.01 + (time.monotonic() - started) * 0.05, 0.25))

    def wait_for_completion(
        self,
        show_output: bool = False,
        wait_post_processing: bool = False,
        raise_on_error: bool = True,
        timeout_seconds: float | None = None,
    ) -> dict[str, Any]:
        """Block until the run ends; ``show_output=True`` streams its driver log live.

        Returns ``get_details()``. A Failed or Canceled run raises
        :class:`ActivityFailedException` (with the error and the log's last lines) when
        ``raise_on_error`` is true. Ctrl-C stops waiting, not the run.
        """
        out = sys.stdout
        if show_output:
            out.write(f"RunId: {self._id}\nWorkspace: {self._ws.folder}\n\n")
            out.write(f"Streaming {DRIVER_LOG}\n{'=' * (10 + len(DRIVER_LOG))}\n\n")
        status = self.stream_log(out if show_output else None, timeout_seconds)
        details = self.get_details()
        if show_output:
            out.write(
                f"\nExecution Summary\n=================\nRunId: {self._id}\nStatus: {status}\n"
            )
            if "error" in details:
                out.write(f"Error: {details['error']['error'].get('message')}\n")
            out.flush()
        if raise_on_error and status in (RunStatus.FAILED, RunStatus.CANCELED):
            message = details.get("error", {}).get("error", {}).get("message", status)
            tail = "".join(self.read_log().splitlines(keepends=True)[-15:])
            raise ActivityFailedException(
                f"Run {self._id} ended {status}: {message}\n--- last lines of {DRIVER_LOG} ---\n{tail}",
                details,
            )
        return details

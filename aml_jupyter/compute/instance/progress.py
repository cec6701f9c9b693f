"""A progress bar for an upload to an agent: in a terminal (on stderr) and in a notebook (a
widget), by ``tqdm.auto``; nothing where no one watches (a pipe, a log) or for small uploads."""

from __future__ import annotations

import sys
from typing import Any

#: Uploads smaller than this go by without a bar (they take well under a second).
SHOWN_FROM_BYTES = 8 << 20


def _watched() -> bool:
    """Whether someone sees a bar: a terminal, or a notebook's kernel."""
    if "ipykernel" in sys.modules:
        return True
    isatty = getattr(sys.stderr, "isatty", None)
    return bool(isatty and isatty())


class UploadProgress:
    """``progress(sent, total)`` for :meth:`AgentClient.upload`; :meth:`close` ends the bar.

    ``file``: where a text bar goes (default: stderr, and only when someone watches)."""

    def __init__(self, where: str, file: Any = None) -> None:
        self.where, self.file = where, file
        self._bar: Any = None
        self._shown = 0

    def __call__(self, sent: int, total: int) -> None:
        if self._bar is None:
            if total < SHOWN_FROM_BYTES or (self.file is None and not _watched()):
                return
            from tqdm.auto import tqdm  # only for an upload someone waits for

            options = {"file": self.file} if self.file is not None else {}
            self._bar = tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=f"Uploading to {self.where}",
                leave=False,
                **options,
            )
        self._bar.update(sent - self._shown)
        self._shown = sent

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

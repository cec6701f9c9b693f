"""Writing metrics: one append-only JSON-lines file per (run, process); the format is in
:mod:`aml_jupyter.store.metrics`. Values are checked here, before anything is written, so a
bad value is refused at ``run.log`` and never reaches a reader."""

from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Any

from ..errors import AmlError
from .limits import INT64_MAX, INT64_MIN, MAX_METRIC_JSON_BYTES, check_name, plain_value


def encode_value(name: str, value: Any) -> str:
    """``value`` as JSON text, or a clear :class:`AmlError` naming the metric.

    numpy scalars and 0-d arrays become the Python number they hold (as v1 took them); what
    cannot be read back by every reader (bytes, objects, huge integers, lone surrogates, deep
    nesting, over 1 MiB) is refused here, before anything is written.
    """
    plain = plain_value(value, f"Metric {name!r}")
    text = json.dumps(plain, allow_nan=True)
    if len(text) > MAX_METRIC_JSON_BYTES:
        raise AmlError(
            f"Metric {name!r}: the value is {len(text):,} bytes as JSON; at most "
            f"{MAX_METRIC_JSON_BYTES:,} are allowed. Store big values as a file "
            "(run.upload_file) or as a table of rows (run.log_row)."
        )
    return text


class MetricWriter:
    """Appends metric lines for one run from this process. Cheap enough to call in a loop."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / f"{os.getpid()}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        encoded = self._names.get(name)
        if encoded is None:
            encoded = self._names[name] = json.dumps(check_name(name, "metric name"))
        return encoded

    def scalar(
        self, name: str, value: Any, step: int | None = None, at_us: int | None = None
    ) -> None:
        """Write one scalar; the fast path is for plain int/float values.

        ``at_us``: when it was measured, in µs since the epoch (default: now); MLflow clients
        send their own timestamps, which are kept.
        """
        if step is not None and type(step) is not int:
            step = _check_step(name, step)
        kind = type(value)
        if (kind is float and math.isfinite(value)) or (
            kind is int and INT64_MIN <= value <= INT64_MAX
        ):
            text = repr(value)
        else:
            text = encode_value(name, value)
        at = time.time_ns() // 1000 if at_us is None else _check_time(name, at_us)
        line = f'["s",{self._name(name)},{text},{"null" if step is None else step},{at}]\n'
        os.write(self._fd, line.encode())

    def record(self, kind: str, name: str, value: Any) -> None:
        """Write a list, row, table or image entry."""
        text = encode_value(name, value)
        line = f'["{kind}",{self._name(name)},{text},null,{time.time_ns() // 1000}]\n'
        os.write(self._fd, line.encode())

    def close(self) -> None:
        """Close the file (the data is already written)."""
        os.close(self._fd)


def _check_step(name: str, step: Any) -> int:
    """A step is an int (numpy ints too) within 64 bits."""
    plain = plain_value(step, f"Metric {name!r} step") if not isinstance(step, bool) else step
    if type(plain) is not int:
        raise AmlError(f"Metric {name!r}: step must be an int, got {step!r}.")
    return plain


def _check_time(name: str, at_us: Any) -> int:
    """A time is a non-negative int of µs within 64 bits."""
    if type(at_us) is not int or not 0 <= at_us <= INT64_MAX:
        raise AmlError(f"Metric {name!r}: the time must be an int of µs since 1970, got {at_us!r}.")
    return at_us

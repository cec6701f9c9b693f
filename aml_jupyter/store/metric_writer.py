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


def check_jsonable(name: str, value: Any) -> str:
    """Encode ``value`` as JSON or raise a clear :class:`AmlError` naming the metric."""
    try:
        return json.dumps(value, allow_nan=True)
    except (TypeError, ValueError) as exc:
        raise AmlError(
            f"Metric {name!r}: value {value!r} of type {type(value).__name__} cannot be stored "
            "(metrics take numbers, strings, booleans, or lists/dicts of them). "
            "Convert it first, e.g. float(x) or x.tolist()."
        ) from exc


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
            if not isinstance(name, str) or not name:
                raise AmlError(f"A metric name must be a non-empty string, got {name!r}.")
            encoded = self._names[name] = json.dumps(name)
        return encoded

    def scalar(self, name: str, value: Any, step: int | None = None) -> None:
        """Write one scalar; the fast path is for plain int/float values."""
        if step is not None and not isinstance(step, int):
            raise AmlError(f"Metric {name!r}: step must be an int, got {step!r}.")
        kind = type(value)
        if (kind is float and math.isfinite(value)) or kind is int:
            text = repr(value)
        else:
            text = check_jsonable(name, value)
        line = f'["s",{self._name(name)},{text},{"null" if step is None else step},{time.time_ns() // 1000}]\n'
        os.write(self._fd, line.encode())

    def record(self, kind: str, name: str, value: Any) -> None:
        """Write a list, row, table or image entry."""
        text = check_jsonable(name, value)
        line = f'["{kind}",{self._name(name)},{text},null,{time.time_ns() // 1000}]\n'
        os.write(self._fd, line.encode())

    def close(self) -> None:
        """Close the file (the data is already written)."""
        os.close(self._fd)

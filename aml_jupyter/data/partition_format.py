"""v1's ``partition_format``: values taken from each file's path, as columns.

``'/{state}/{date:yyyy/MM/dd}/data.csv'`` matches the end of a file's path: ``{state}`` is a
string column (one path segment, or part of one), ``{date:yyyy/MM/dd}`` a datetime column read
with ``yyyy MM dd HH mm ss``; ``*`` is any characters within a name, and the rest match
themselves. Each file's values become
its fragment's partition expression in pyarrow, so a filter on those columns skips whole files
without opening them, and the columns are filled from the path, never read from the file.
"""

from __future__ import annotations

import re
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AmlError

if TYPE_CHECKING:
    import pyarrow as pa

#: The datetime parts v1 knew, with the digits each takes.
_DATE_PARTS = {"yyyy": 4, "MM": 2, "dd": 2, "HH": 2, "mm": 2, "ss": 2}
_DATE_TOKEN = re.compile("|".join(_DATE_PARTS))
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_ .-]{0,127}$")
_DATE_ARGS = {
    "yyyy": "year",
    "MM": "month",
    "dd": "day",
    "HH": "hour",
    "mm": "minute",
    "ss": "second",
}
MAX_FORMAT_CHARS = 1000


class PartitionKey(NamedTuple):
    name: str
    #: None: a string column; else the datetime pattern, e.g. ``yyyy/MM/dd``.
    date_pattern: str | None


class PartitionFormat:
    """A parsed ``partition_format``; :class:`AmlError` for a malformed one."""

    def __init__(self, text: Any) -> None:
        if not isinstance(text, str) or not text.strip("/"):
            raise AmlError(
                f"partition_format is a path pattern such as '/{{state}}/{{date:yyyy/MM/dd}}/"
                f"data.csv'; got {text!r:.80}."
            )
        if len(text) > MAX_FORMAT_CHARS:
            raise AmlError(f"partition_format is over {MAX_FORMAT_CHARS} characters.")
        self.text = text
        self.keys: list[PartitionKey] = []
        pattern = []
        for literal, key in _pieces(text):
            # '*' stands for any characters within one folder or file name.
            pattern.append(re.escape(literal).replace(r"\*", "[^/]*"))
            if key is not None:
                pattern.append(self._group(key))
        # Anchored at the path's end, and at a folder boundary where the format begins.
        start = "" if text.startswith("/") else "(?:^|/)"
        self._regex = re.compile(start + "".join(pattern) + "$")
        if not self.keys:
            raise AmlError(
                f"partition_format {text!r} names no column: put each in braces, e.g. "
                "'{state}/data.csv'."
            )

    def _group(self, key: str) -> str:
        name, _, date_pattern = key.partition(":")
        name = name.strip()
        if not _NAME.match(name):
            raise AmlError(
                f"partition_format: {{{key}}} is no column name (letters, digits, '_', ' ', "
                "'.', '-', starting with a letter or '_')."
            )
        if any(k.name == name for k in self.keys):
            raise AmlError(f"partition_format names column {name!r} twice.")
        index = len(self.keys)
        if not date_pattern:
            self.keys.append(PartitionKey(name, None))
            return f"(?P<k{index}>[^/]+?)"
        tokens = _DATE_TOKEN.findall(date_pattern)
        if not tokens or len(set(tokens)) != len(tokens):
            raise AmlError(
                f"partition_format: {{{key}}} has no date pattern made of yyyy, MM, dd, HH, mm, "
                "ss (each once), e.g. {date:yyyy/MM/dd}."
            )
        parts, at = [], 0
        for match in _DATE_TOKEN.finditer(date_pattern):
            parts.append(re.escape(date_pattern[at : match.start()]))
            token = match.group()
            parts.append(f"(?P<k{index}_{token}>\\d{{{_DATE_PARTS[token]}}})")
            at = match.end()
        parts.append(re.escape(date_pattern[at:]))
        self.keys.append(PartitionKey(name, date_pattern))
        return "".join(parts)

    @property
    def names(self) -> list[str]:
        return [k.name for k in self.keys]

    def values(self, path: str) -> dict[str, str | datetime]:
        """The columns' values in ``path``, or an :class:`AmlError` naming the file."""
        match = self._regex.search(path.replace("\\", "/"))
        if match is None:
            raise AmlError(
                f"File {path!r} does not match partition_format {self.text!r}: the format must "
                "describe the end of every file's path."
            )
        out: dict[str, str | datetime] = {}
        for index, key in enumerate(self.keys):
            if key.date_pattern is None:
                out[key.name] = match.group(f"k{index}")
                continue
            parts = {
                _DATE_ARGS[token]: int(match.group(f"k{index}_{token}"))
                for token in _DATE_TOKEN.findall(key.date_pattern)
            }
            try:
                out[key.name] = datetime(
                    parts.get("year", 1),
                    parts.get("month", 1),
                    parts.get("day", 1),
                    parts.get("hour", 0),
                    parts.get("minute", 0),
                    parts.get("second", 0),
                )
            except ValueError as exc:
                raise AmlError(
                    f"File {path!r}: {key.name} is no date ({exc}) under partition_format "
                    f"{self.text!r}."
                ) from None
        return out

    @cached_property
    def fields(self) -> list[pa.Field]:
        """The columns as pyarrow fields: strings, or timestamps in microseconds."""
        import pyarrow as pa

        return [
            pa.field(k.name, pa.string() if k.date_pattern is None else pa.timestamp("us"))
            for k in self.keys
        ]

    def expression(self, values: dict[str, str | datetime]) -> Any:
        """A file's values as the pyarrow expression its fragment is known to satisfy."""
        import pyarrow as pa
        import pyarrow.compute as pc

        expr = None
        for field in self.fields:
            term = pc.field(field.name) == pa.scalar(values[field.name], field.type)
            expr = term if expr is None else expr & term
        return expr


def _pieces(text: str) -> list[tuple[str, str | None]]:
    """``text`` as (literal, key) pairs: each key the inside of a ``{...}``; the last key
    None. Unbalanced braces are an :class:`AmlError`."""
    pieces: list[tuple[str, str | None]] = []
    at = 0
    while True:
        opening = text.find("{", at)
        closing = text.find("}", at)
        if opening < 0:
            if closing >= 0:
                raise AmlError(f"partition_format {text!r} has a '}}' with no '{{' before it.")
            pieces.append((text[at:], None))
            return pieces
        end = text.find("}", opening)
        if 0 <= closing < opening or end < 0 or "{" in text[opening + 1 : end]:
            raise AmlError(f"partition_format {text!r} has unbalanced braces.")
        pieces.append((text[at:opening], text[opening + 1 : end]))
        at = end + 1

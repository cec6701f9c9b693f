"""What the store can hold, checked where values come in (``run.log``, ``run.tag``, submit).

A value that passes these checks can be written, read back, listed, served as JSON and
printed, by every reader; one that cannot is refused at once with an :class:`AmlError`, so it
never leaves a run half-finalized or a listing broken.

The limits (documented in the README):

- names (metrics, tags, properties): 1-255 characters that encode as UTF-8;
- tag and property values: at most 32,768 characters (16,384 tags per run at most);
- metric values: numbers, strings, booleans, None and lists/dicts of them nested at most
  64 deep, at most 1 MiB as JSON; integers within 64 bits; numpy scalars and 0-d arrays are
  taken as the Python number they hold;
- experiment names: 1-200 characters (a run id adds ~20 and must fit one file name).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import AmlError

MAX_NAME_CHARS = 255
MAX_TAG_VALUE_CHARS = 32_768
MAX_TAGS = 16_384
MAX_DEPTH = 64
MAX_METRIC_JSON_BYTES = 1 << 20
MAX_EXPERIMENT_CHARS = 200
#: Run ids name folders: ``<experiment>_<unix time>_<8 hex>`` leaves room under 255 bytes.
MAX_RUN_ID_CHARS = 240
#: What SQLite, numpy columns and JSON readers hold as an integer.
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_text(value: Any, what: str, max_chars: int | None = None) -> str:
    """``value`` if it is a string that encodes as UTF-8 and is short enough."""
    if not isinstance(value, str):
        raise AmlError(f"The {what} must be a string, got {type(value).__name__}: {value!r}.")
    if not _is_utf8(value):
        raise AmlError(
            f"The {what} {value!r} holds characters that are not valid Unicode (a lone "
            "surrogate, e.g. a file name decoded from non-UTF-8 bytes). Decode it with "
            "errors='replace' or use os.fsencode(name).decode('utf-8', 'replace')."
        )
    if max_chars is not None and len(value) > max_chars:
        raise AmlError(
            f"The {what} is {len(value):,} characters long; at most {max_chars:,} are allowed "
            f"(it starts {value[:40]!r}). Shorten it, or store long text as a file "
            "(run.upload_file)."
        )
    return value


def check_name(value: Any, what: str) -> str:
    """A metric, tag or property name: a non-empty string of at most 255 UTF-8 characters."""
    if isinstance(value, str) and not value:
        raise AmlError(f"The {what} must not be empty.")
    return check_text(value, what, MAX_NAME_CHARS)


def plain_value(value: Any, what: str) -> Any:
    """``value`` as plain JSON-able Python, checked: numpy scalars become Python numbers.

    Refused with a clear message: bytes, objects, integers beyond 64 bits, text that is not
    valid Unicode, nesting deeper than :data:`MAX_DEPTH`.
    """
    return _plain(value, what, 0)


def _plain(value: Any, what: str, depth: int) -> Any:
    kind = type(value)
    if kind is float or kind is bool or value is None:
        return value
    if kind is int:
        if INT64_MIN <= value <= INT64_MAX:
            return value
        raise AmlError(
            f"{what}: the integer {_short(value)} does not fit 64 bits; log float(x) or str(x)."
        )
    if kind is str:
        if not _is_utf8(value):
            raise AmlError(
                f"{what}: the text {value!r} holds characters that are not valid Unicode (a "
                "lone surrogate); decode it with errors='replace'."
            )
        return value
    if depth >= MAX_DEPTH:
        raise AmlError(
            f"{what}: the value is nested more than {MAX_DEPTH} deep; flatten it or store it "
            "as a file (run.upload_file)."
        )
    if isinstance(value, (list, tuple)):
        return [_plain(v, what, depth + 1) for v in value]
    if isinstance(value, Mapping):
        return {
            _plain(k, what, depth): _plain(v, what, depth + 1)
            for k, v in value.items()
            if isinstance(k, str) or _refuse_key(k, what)
        }
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "shape", None) == ():  # numpy scalar or 0-d array
        return _plain(item(), what, depth + 1)
    if isinstance(value, (bytes, bytearray, memoryview)):
        raise AmlError(
            f"{what}: bytes cannot be logged; decode them (value.decode()) or store them as a "
            "file (run.upload_file)."
        )
    if isinstance(value, (int, float)):  # subclasses: IntEnum, numpy's Python-derived types
        return _plain(int(value) if isinstance(value, int) else float(value), what, depth)
    raise AmlError(
        f"{what}: a value of type {kind.__name__} cannot be stored (metrics take numbers, "
        "strings, booleans, or lists/dicts of them). Convert it first, e.g. float(x) or "
        "x.tolist()."
    )


def _refuse_key(key: Any, what: str) -> bool:
    raise AmlError(f"{what}: dict keys must be strings, got {type(key).__name__}: {key!r}.")


def _short(number: int) -> str:
    text = str(number) if number.bit_length() < 400 else f"of {number.bit_length()} bits"
    return text if len(text) < 60 else text[:30] + "..."


def _plural(what: str) -> str:
    return "properties" if what == "property" else f"{what}s"


def check_tag_count(count: int, what: str = "tag") -> None:
    """A run holds at most :data:`MAX_TAGS` tags (or properties)."""
    if count > MAX_TAGS:
        raise AmlError(f"A run holds at most {MAX_TAGS:,} {_plural(what)}.")


def check_tags(tags: Mapping[Any, Any], what: str = "tag") -> dict[str, Any]:
    """Tags or properties as ``{key: str | None}``, each key and value within the limits."""
    if not isinstance(tags, Mapping):
        raise AmlError(
            f"{_plural(what).capitalize()} are given as a dict, got {type(tags).__name__}."
        )
    check_tag_count(len(tags), what)
    out: dict[str, Any] = {}
    for key, value in tags.items():
        name = check_name(key if isinstance(key, str) else str(key), f"{what} name")
        if value is None:
            out[name] = None
            continue
        try:
            text = value if isinstance(value, str) else str(value)
        except ValueError as exc:  # e.g. an int too long to print
            raise AmlError(f"The value of {what} {name!r} cannot be shown as text: {exc}") from exc
        out[name] = check_text(text, f"value of {what} {name!r}", MAX_TAG_VALUE_CHARS)
    return out


def check_experiment_length(name: str) -> str:
    """Experiment names are bounded so a run id (name + ~20 characters) is a valid file name."""
    if len(name) > MAX_EXPERIMENT_CHARS:
        raise AmlError(
            f"Experiment name {name[:40]!r}... is {len(name)} characters long; at most "
            f"{MAX_EXPERIMENT_CHARS} are allowed (run ids and folders are named after it)."
        )
    return name

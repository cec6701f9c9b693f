"""JSON on the wire: answers a browser's strict ``JSON.parse`` accepts, bodies checked once.

Python's ``json`` writes ``NaN`` and ``Infinity`` (not JSON) for non-finite floats, which a
run's metrics may hold (``run.log("loss", float("nan"))``). Answers carry them as the strings
``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` instead: the information stays, and a client
tells them from numbers by their type.
"""

from __future__ import annotations

import json
import math
from typing import Any

#: How non-finite floats are written (the only place that decides it).
NON_FINITE = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


class BadBody(ValueError):
    """A request body that is not JSON we can take; the message says why."""


def _finite(value: Any) -> Any:
    """``value`` with every non-finite float replaced by its string."""
    if isinstance(value, float):
        return value if math.isfinite(value) else NON_FINITE[repr(value)]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> str:
    """Strict JSON text of ``value``; non-finite floats become strings (see above)."""
    try:
        return json.dumps(value, allow_nan=False)
    except ValueError:
        # Rare: walk the answer only when it holds a non-finite float.
        return json.dumps(_finite(value), allow_nan=False)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def loads_body(body: bytes) -> Any:
    """The request body as JSON (an empty one is ``None``), or :class:`BadBody` saying why."""
    try:
        value = json.loads(body or b"null", parse_constant=_no_constant)
        # Text that cannot be stored (a lone surrogate such as "\ud800") fails here, not in
        # the store; UTF-8 is what SQLite and the files hold.
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise BadBody("The request body is nested too deeply.") from None
    except UnicodeError:
        raise BadBody(
            "The request body holds text that is not valid UTF-8 (such as a lone surrogate, "
            "\\ud800); send UTF-8 text."
        ) from None
    except ValueError as e:
        raise BadBody(f"The request body is not JSON: {e}.") from None
    return value

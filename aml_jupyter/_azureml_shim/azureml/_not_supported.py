"""A shim module's answer for a name aml_jupyter does not provide (yet), with a hint of what
to use instead (the shim's finder gives other modules the same error without one)."""

from __future__ import annotations

from typing import NoReturn

from aml_jupyter.errors import V1NameNotSupported


def missing(module: str, name: str, instead: str = "") -> NoReturn:
    """Raise for ``module.name``; dunder and private names stay plain AttributeErrors."""
    if name.startswith("_"):
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    raise V1NameNotSupported(f"{module}.{name}", instead)

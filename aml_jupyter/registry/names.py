"""The one rule for registry names (models and services): they name folders, so never paths."""

from __future__ import annotations

import re
from typing import Any

from ..errors import AmlError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$")


def check_name(name: Any, what: str = "Model") -> str:
    """``name`` if it is a registry name, else an ``AmlError`` saying what is allowed."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise AmlError(
            f"{what} name {name!r} is not allowed: use letters, digits, '-', '_' or '.', "
            "starting with a letter or digit (at most 255 characters)."
        )
    return name

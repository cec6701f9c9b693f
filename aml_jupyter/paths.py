"""Checks for names that come from outside: they must stay inside their folder."""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath, PureWindowsPath

from .errors import AmlError


def checked_relative_name(name: str, what: str = "name") -> str:
    """Return ``name`` as a clean relative POSIX path, or raise :class:`AmlError`.

    Refuses absolute paths, drive letters, ``..`` parts and empty names, so a run file,
    a zip entry or a request can never point outside the folder it belongs to.
    """
    if not isinstance(name, str) or not name.strip():
        raise AmlError(f"The {what} must be a non-empty relative path, got {name!r}.")
    unified = name.replace("\\", "/")
    if PurePosixPath(unified).is_absolute() or PureWindowsPath(name).drive:
        raise AmlError(
            f"The {what} {name!r} is an absolute path; give a path relative to the run, "
            "e.g. 'outputs/model.pkl'."
        )
    parts = [p for p in unified.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise AmlError(f"The {what} {name!r} contains '..'; names must stay inside the run.")
    if "\x00" in unified:
        raise AmlError(f"The {what} {name!r} contains a NUL character.")
    return posixpath.join(*parts)

"""Checks for names that come from outside: they must stay inside their folder."""

from __future__ import annotations

import codecs
import os
import posixpath
from pathlib import Path, PurePosixPath, PureWindowsPath

from .errors import AmlError

# The installed package's folder (what runs put on PYTHONPATH to import us), and the v1 shim.
PACKAGE_DIR = Path(__file__).resolve().parent
SHIM_DIR = PACKAGE_DIR / "_azureml_shim"
# Package metadata only: the entry points of our MLflow plugins, for runs' PYTHONPATH.
MLFLOW_PLUGIN_DIR = PACKAGE_DIR / "_mlflow_plugin"


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
    try:
        unified.encode("utf-8")
    except UnicodeEncodeError:
        raise AmlError(
            f"The {what} {name!r} holds characters that are not valid Unicode (a lone "
            "surrogate); use paths.utf8_name(name) or decode it with errors='replace'."
        ) from None
    if not parts:  # "." or "./": the folder itself, not a name in it
        raise AmlError(f"The {what} {name!r} names no file; give a path such as 'outputs/x'.")
    return posixpath.join(*parts)


def utf8_name(name: str) -> str:
    """A file name from the file system as text every reader can store and print.

    A name that is not UTF-8 on disk (``caf\\xe9.csv`` written by a Latin-1 program) comes
    from ``os.walk`` with lone surrogates; its odd bytes are spelled ``%E9`` instead.
    """
    try:
        name.encode("utf-8")
        return name
    except UnicodeEncodeError:
        return os.fsencode(name).decode("utf-8", "aml-percent")


def _percent(error: UnicodeError) -> tuple[str, int]:
    assert isinstance(error, UnicodeDecodeError)
    bad = error.object[error.start : error.end]
    return "".join(f"%{byte:02X}" for byte in bad), error.end


codecs.register_error("aml-percent", _percent)

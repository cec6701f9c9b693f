"""How ``azureml.*`` imports resolve to aml_jupyter's v1 shim, and fail clearly where it has
no such name.

The shim (``_azureml_shim/azureml/...``) is plain files: a v1 module is one file there, its
``__all__`` the names it provides. Adding a module is adding a file; this finder does the rest:

- a module or name under our ``azureml`` package that no file provides raises
  :class:`~aml_jupyter.errors.V1NameNotSupported` (an ``AmlError`` and an ``ImportError``) that
  names it, never a bare ``ModuleNotFoundError``;
- every shim module gets a module ``__getattr__``: ``from azureml.core import LinkedService`` names
  ``azureml.core.LinkedService``; a submodule not imported yet (``azureml.core.runconfig``) is
  imported on first access, as the real SDK's lazy packages allow.

Other ``azureml.*`` distributions installed beside us (the namespace is shared through
``pkgutil.extend_path``) keep their own modules and errors. Where Microsoft's azureml-core is
installed, :func:`which` says so and the opt-in leaves ``azureml`` alone (see
:mod:`aml_jupyter.azureml`).
"""

from __future__ import annotations

import importlib
import importlib.machinery
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

from .errors import V1NameNotSupported
from .paths import SHIM_DIR
from .version import __version__

_SHIM = str(SHIM_DIR)
#: The one line :func:`which` says is printed at the first ``import azureml`` after enabling.
_pending_announcement: list[str] = []


def _is_ours(module: ModuleType | None) -> bool:
    """True for a module that one of the shim's files defines."""
    origin = getattr(getattr(module, "__spec__", None), "origin", None)
    return isinstance(origin, str) and _in_shim(origin)


def _in_shim(path: str) -> bool:
    try:
        return Path(path).resolve().is_relative_to(SHIM_DIR)
    except OSError:
        return False


def real_azureml_core() -> str | None:
    """Microsoft's azureml-core, when installed: its version and folder; else None.

    Found as an ``azureml/core`` package on ``sys.path`` outside our shim (a quick look at
    folders: no ``azureml`` at all is the common case), its version from the distribution's
    metadata where there is one (a vendored copy has none).
    """
    elsewhere = [p for p in sys.path if not (p and _in_shim(p))]
    spec = importlib.machinery.PathFinder.find_spec("azureml", elsewhere)
    for folder in (spec.submodule_search_locations or []) if spec else []:
        if not _in_shim(folder) and (Path(folder) / "core" / "__init__.py").is_file():
            from importlib import metadata

            try:
                return f"{metadata.version('azureml-core')} ({folder})"
            except metadata.PackageNotFoundError:
                return f"of unknown version ({folder})"
    return None


def which(real: str | None = None) -> str:
    """One line: which ``azureml`` v1 names this Python uses, Microsoft's or aml_jupyter's
    (``real``: :func:`real_azureml_core`'s answer, when already asked)."""
    real = real or real_azureml_core()
    if real is not None:
        return (
            f"azureml: Microsoft's azureml-core {real} is installed and used; aml_jupyter leaves "
            "it alone (uninstall it to run v1 code on aml_jupyter's local workspace)."
        )
    return (
        f"azureml: aml_jupyter {__version__} serves the Azure ML v1 names here, locally "
        "(no azureml-core installed; what is covered: docs/azureml-v1-coverage.md)."
    )


def missing_names(module_name: str, search_path: Sequence[str] | None) -> Callable[[str], Any]:
    """A module ``__getattr__`` for a shim module: submodules on first access, else a clear
    :class:`V1NameNotSupported` (private names stay a plain ``AttributeError``, so ``hasattr``
    probes by IPython, pickle or inspect see nothing odd)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        full = f"{module_name}.{name}"
        if search_path and importlib.machinery.PathFinder.find_spec(full, list(search_path)):
            return importlib.import_module(full)
        raise V1NameNotSupported(full)

    return __getattr__


class _ShimLoader:
    """The shim file's own loader, plus the module ``__getattr__`` of :func:`missing_names`.

    Plain classes here, not ``importlib.abc``'s: the import system only calls these methods,
    and importing ``importlib.abc`` costs ~20 ms at every aml kernel start."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self._inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self._inner.exec_module(module)
        if "__getattr__" not in module.__dict__:
            module.__getattr__ = missing_names(  # type: ignore[method-assign]
                module.__name__, getattr(module, "__path__", None)
            )

    def __getattr__(self, name: str) -> Any:  # get_source, get_filename ... as the file's loader
        return getattr(self._inner, name)


class V1Finder:
    """First on ``sys.meta_path`` while our ``azureml`` is imported: resolves its submodules to
    shim files and refuses, by name, those no file provides."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == "azureml":
            if _pending_announcement:
                print(_pending_announcement.pop())
            return None
        if not fullname.startswith("azureml."):
            return None
        parent = sys.modules.get(fullname.rpartition(".")[0])
        if not _is_ours(parent):
            return None  # Microsoft's azureml, or another distribution's part of the namespace
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None:
            raise V1NameNotSupported(_asked_for(fullname))
        if spec.origin and _in_shim(spec.origin):
            spec.loader = _ShimLoader(spec.loader)  # type: ignore[assignment]
        return spec


def _asked_for(fullname: str) -> str:
    """The module the import statement named (``azureml.pipeline.core``), of which
    ``fullname`` (``azureml.pipeline``) is the first missing package: read from the import
    system's own frames, so the error names what the user wrote."""
    frame = sys._getframe(1)
    asked = fullname
    while frame is not None:
        name = frame.f_locals.get("name") if "importlib" in frame.f_code.co_filename else None
        if isinstance(name, str) and name.startswith(fullname + ".") and len(name) > len(asked):
            asked = name
        frame = frame.f_back  # type: ignore[assignment]
    return asked


def install_finder() -> None:
    """Put :class:`V1Finder` first on ``sys.meta_path`` (once per process)."""
    if not any(isinstance(f, V1Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, V1Finder())


def enable() -> str:
    """Make ``import azureml...`` mean aml_jupyter in this process, unless Microsoft's
    azureml-core is installed; returns :func:`which`'s line, which is also printed at the
    first ``import azureml`` (at once when azureml was imported before)."""
    real = real_azureml_core()
    line = which(real)
    if real is None and _SHIM not in sys.path:
        sys.path.insert(0, _SHIM)
    install_finder()
    _pending_announcement[:] = [line]
    if "azureml" in sys.modules:
        print(_pending_announcement.pop())
    return line

"""What a v1 module of the shim answers for a name aml_jupyter does not provide (yet)."""

from __future__ import annotations

from typing import NoReturn

from aml_jupyter.errors import AmlError


class NotSupportedYet(AmlError):
    """A v1 name this version does not serve: the message names it (not an ImportError, so
    ``from azureml.core.compute import AksCompute`` says so instead of 'cannot import')."""


def missing(module: str, name: str, instead: str = "") -> NoReturn:
    """Raise for ``module.name``; dunder and private names stay plain AttributeErrors."""
    if name.startswith("_"):
        raise AttributeError(f"module {module!r} has no attribute {name!r}")
    raise NotSupportedYet(
        f"{module}.{name} is not supported by aml_jupyter yet"
        + (f"; {instead}" if instead else "")
        + " (docs/azureml-v1-coverage.md lists what is)."
    )

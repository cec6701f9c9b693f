"""The one exception type users catch: :class:`AmlError` (and v1-named aliases of it)."""

from __future__ import annotations


class AmlError(Exception):
    """Something the user can fix: the message says what went wrong and what to do.

    Every error that aml_jupyter raises on purpose is an ``AmlError``; catch this one type.
    """


class ActivityFailedException(AmlError):
    """A run ended ``Failed`` (or ``Canceled``) while ``wait_for_completion`` waited on it.

    Named as in Azure ML v1. ``details`` holds ``run.get_details()`` of the failed run.
    """

    def __init__(self, message: str, details: dict | None = None) -> None:
        super().__init__(message)
        self.details = details or {}


#: Azure ML v1 raised ``UserErrorException`` for bad input; scripts that catch it keep working.
UserErrorException = AmlError


class V1NameNotSupported(AmlError, ImportError):
    """An Azure ML v1 module or name (``azureml.pipeline.core``, ``azureml.core.LinkedService``)
    that aml_jupyter does not provide yet. An ``ImportError`` too, so v1 code that guards an
    optional import with ``except ImportError`` keeps working."""

    def __init__(self, name: str, instead: str = "") -> None:
        super().__init__(
            f"{name} is not supported by aml_jupyter yet{f'; {instead}' if instead else ''}. "
            "What the v1 names cover, module by module: docs/azureml-v1-coverage.md. Use the "
            "covered names, or install Microsoft's azureml-core to use Azure itself "
            "(aml_jupyter then leaves azureml alone).",
            name=name,
        )


class ComputeTargetException(AmlError):
    """A compute target is unknown, of another kind, or cannot be created (v1's name).

    v1 notebooks catch it around ``ComputeTarget(workspace=ws, name=...)`` and create the
    target in the ``except`` branch.
    """


class WebserviceException(AmlError):
    """A scoring service is unknown or cannot be deployed, changed or called (v1's name)."""


class ModelNotFoundException(AmlError):
    """``Model(ws, name, ...)`` matched no registered version (v1's name)."""

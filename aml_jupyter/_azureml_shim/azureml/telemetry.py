"""Azure ML v1's ``azureml.telemetry``: accepted so v1 notebooks run; aml_jupyter sends
nothing anywhere, so there is nothing to collect or to switch off."""

from __future__ import annotations


def set_diagnostics_collection(
    send_diagnostics: bool = True, *args: object, **kwargs: object
) -> None:
    """Does nothing (v1 switched its usage telemetry on or off here; we have none)."""


__all__ = ["set_diagnostics_collection"]

"""Azure ML v1's ``azureml.exceptions``: the exceptions v1 notebooks catch, all ``AmlError``s."""

from typing import Any

from aml_jupyter.errors import (
    ActivityFailedException,
    AmlError,
    ComputeTargetException,
    ModelNotFoundException,
    UserErrorException,
    WebserviceException,
)

from ._not_supported import missing

#: v1's base of every SDK exception.
AzureMLException = AmlError

__all__ = [
    "ActivityFailedException",
    "AzureMLException",
    "ComputeTargetException",
    "ModelNotFoundException",
    "UserErrorException",
    "WebserviceException",
]


def __getattr__(name: str) -> Any:
    missing(__name__, name, "catch AzureMLException (every error aml_jupyter raises) instead")

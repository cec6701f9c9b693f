"""Azure ML v1's ``azureml.core.compute_target``: the target base class and its exception."""

from typing import Any

from aml_jupyter.compute import ComputeTarget
from aml_jupyter.errors import ComputeTargetException

from .._not_supported import missing

__all__ = ["ComputeTarget", "ComputeTargetException"]


def __getattr__(name: str) -> Any:
    missing(__name__, name)

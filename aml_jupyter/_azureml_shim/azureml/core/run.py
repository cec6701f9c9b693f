"""``from azureml.core.run import Run`` inside an aml_jupyter run."""

from aml_jupyter import Run

__all__ = ["Run"]

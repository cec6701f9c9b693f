"""``from azureml.widgets import RunDetails`` inside an aml_jupyter run."""

from aml_jupyter.widgets import RunDetails

__all__ = ["RunDetails"]

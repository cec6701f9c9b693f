"""``from azureml.widgets import RunDetails`` inside an aml_jupyter run."""

from aml_jupyter.frontends.widgets import RunDetails

__all__ = ["RunDetails"]

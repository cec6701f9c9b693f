"""Notebook widgets: :class:`RunDetails`, a live view of a run (v1's ``azureml.widgets``).

``from aml_jupyter.frontends.widgets import RunDetails; RunDetails(run).show()``. Importing this module
imports ipywidgets; matplotlib is imported when the first chart is drawn. ``import
aml_jupyter`` never imports it.
"""

from __future__ import annotations

from .run_details import RunDetails

__all__ = ["RunDetails"]

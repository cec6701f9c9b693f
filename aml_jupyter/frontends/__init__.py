"""Thin front ends over the Python API: CLI, magics, widgets, the Jupyter server extension."""

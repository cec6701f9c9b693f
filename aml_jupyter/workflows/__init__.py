"""Pipelines, HyperDrive sweeps and AutoML, built from child runs (later issues)."""

"""Runs, experiments and the workspace object: what a run is and what it records."""

"""Snapshots of a source folder: ignore rules, limits, content-addressed files, git state."""

"""The compute-instance target: an ``aml agent`` on a workstation, reached over HTTP."""

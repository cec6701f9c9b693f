"""The local target: a detached supervisor process per run on this machine."""

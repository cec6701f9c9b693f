"""The package version (one place: hatch reads it here, ``aml --version`` and the agent report it)."""

__version__ = "0.1.0"

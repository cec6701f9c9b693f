"""The ``aml`` command line."""

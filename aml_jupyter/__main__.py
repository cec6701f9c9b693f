"""``python -m aml_jupyter``: the ``aml`` command line."""

from __future__ import annotations

import sys

from aml_jupyter.cli import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m aml_jupyter``: the ``aml`` command line."""

from __future__ import annotations

import sys

from aml_jupyter.frontends.cli.main import main

if __name__ == "__main__":
    sys.exit(main())

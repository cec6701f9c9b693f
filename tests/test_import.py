"""``import aml_jupyter`` stays light, and every public name imports from the top."""

from __future__ import annotations

import subprocess
import sys

import aml_jupyter

HEAVY = ("pandas", "matplotlib", "IPython", "jupyter_server", "ipywidgets", "numpy", "pathspec")


def test_import_pulls_in_no_heavy_library() -> None:
    code = (
        "import sys, aml_jupyter; from aml_jupyter import Run, Workspace, Experiment;"
        f"print([m for m in {HEAVY!r} if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_every_public_name_is_importable_from_the_package() -> None:
    for name in aml_jupyter.__all__:
        assert getattr(aml_jupyter, name) is not None, name

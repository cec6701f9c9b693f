"""``import aml_jupyter.azureml``: the one line that makes Azure ML v1's module paths
(``from azureml.core import Workspace``) import aml_jupyter's objects in this Python.

The "Python 3 (aml)" kernel does it at start (``--ext=aml_jupyter.azureml`` in its
kernelspec); ``%load_ext aml_jupyter.azureml`` does it in any other IPython. Runs get the same
shim first on their ``PYTHONPATH`` (``compute/local/supervisor.py``).

Why an explicit import, not a ``.pth`` file or a ``PYTHONPATH`` in the kernelspec: a ``.pth``
would change every Python of the environment, including scripts written for Microsoft's
azureml-core, and an editable install does not carry one; a kernelspec's ``PYTHONPATH`` would
leak into every process the kernel starts and cannot know where a wheel put the package. The
import acts only where asked, is idempotent, and decides at that moment whether Microsoft's
azureml-core is installed: then it adds nothing and says so. Either way one line says which
``azureml`` is in use, printed at the first ``import azureml``.
"""

from __future__ import annotations

from typing import Any

from ._v1_imports import enable, which

__all__ = ["enable", "which"]

enable()


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext aml_jupyter.azureml`` (and the aml kernel's ``--ext``): :func:`enable`."""
    enable()


def unload_ipython_extension(ipython: Any) -> None:
    """Nothing to undo: modules already imported stay imported."""

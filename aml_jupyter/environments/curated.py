"""v1's curated environment names, as local equivalents.

Azure ML shipped ready-made environments (``AzureML-Minimal``, ``AzureML-sklearn-1.0-ubuntu20.04
-py38-cpu``, ...) that v1 samples fetch with ``Environment.get(ws, name)``. Their images and
pinned conda files live in Microsoft's registry, so here each family maps to what it was for:
its packages. When the submitting Python has them all, the environment is that Python as it is
(user-managed: nothing to build, and no framework fetched again — a CUDA torch from PyPI is
gigabytes); otherwise a managed environment of those packages, unpinned, built with uv for this
machine's Python (v1's pins were for Python 3.6-3.8 and have no wheels for today's Pythons).

| name pattern | packages |
| --- | --- |
| ``AzureML-Minimal`` | none: the submitting Python |
| ``AzureML-Tutorial`` | scikit-learn, pandas, matplotlib, joblib |
| ``AzureML-sklearn-*``, ``AzureML-Scikit-learn*`` | scikit-learn, pandas, joblib |
| ``AzureML-pytorch-*``, ``AzureML-PyTorch-*``, ``AzureML-ACPT-pytorch-*`` | torch |
| ``AzureML-tensorflow-*``, ``AzureML-TensorFlow-*`` | tensorflow |
| ``AzureML-lightgbm-*``, ``AzureML-xgboost-*`` | lightgbm / xgboost, scikit-learn, pandas |

Any other ``AzureML-*`` name is refused with this list.
"""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING

from ..errors import AmlError
from .installed import satisfied_here

if TYPE_CHECKING:
    from .environment import Environment

#: (name pattern, case-insensitive) -> the packages of its local equivalent.
CURATED: list[tuple[str, list[str]]] = [
    ("azureml-minimal", []),
    ("azureml-tutorial", ["scikit-learn", "pandas", "matplotlib", "joblib"]),
    ("azureml-sklearn-*", ["scikit-learn", "pandas", "joblib"]),
    ("azureml-scikit-learn*", ["scikit-learn", "pandas", "joblib"]),
    ("azureml-pytorch-*", ["torch"]),
    ("azureml-acpt-pytorch-*", ["torch"]),
    ("azureml-tensorflow-*", ["tensorflow"]),
    ("azureml-lightgbm-*", ["lightgbm", "scikit-learn", "pandas"]),
    ("azureml-xgboost-*", ["xgboost", "scikit-learn", "pandas"]),
]


def packages_for(name: str) -> list[str] | None:
    """The packages of a curated name's local equivalent (None: not a curated name)."""
    for pattern, packages in CURATED:
        if fnmatch.fnmatch(name.lower(), pattern):
            return packages
    return None


def curated(name: str) -> Environment | None:
    """The local equivalent of curated environment ``name``; None for a name that is not
    ``AzureML-*``; an :class:`AmlError` listing the known ones for any other ``AzureML-*``."""
    from .environment import Environment

    if not name.lower().startswith("azureml-"):
        return None
    packages = packages_for(name)
    if packages is None:
        known = ", ".join(p for p, _ in CURATED)
        raise AmlError(
            f"{name!r} is an Azure ML curated environment this version has no local equivalent "
            f"for. Known families: {known} (e.g. Environment.get(ws, "
            "'AzureML-sklearn-1.0-ubuntu20.04-py38-cpu')); or make one: "
            "Environment.from_pip_requirements(name, 'requirements.txt')."
        )
    env = Environment(name)
    if satisfied_here(packages):
        # The submitting Python as it is: nothing to build.
        env.python.user_managed_dependencies = True
    for package in packages:
        env.python.conda_dependencies.add_pip_package(package)
    env.version = "local"
    return env

"""Azure ML v1's ``azureml`` namespace, served by aml_jupyter: first on a run's PYTHONPATH, and
in the notebook after ``import aml_jupyter.azureml`` (the aml kernel does it at start).

Other ``azureml.*`` packages that happen to be installed stay importable. A v1 module is one
file under this folder; a module or name no file provides fails by name (see
``aml_jupyter/_v1_imports.py``).
"""

from pkgutil import extend_path

from aml_jupyter._v1_imports import install_finder, missing_names

__path__ = extend_path(__path__, __name__)
install_finder()
__getattr__ = missing_names(__name__, __path__)

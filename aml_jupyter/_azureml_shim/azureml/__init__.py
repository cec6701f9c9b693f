"""Put first on a run's PYTHONPATH so ``azureml.core`` is aml_jupyter inside our runs.

Other ``azureml.*`` packages that happen to be installed stay importable.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

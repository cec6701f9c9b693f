"""v1's framework estimators: ``SKLearn``, ``PyTorch``, ``TensorFlow`` (deprecated in v1 too).

Each is an :class:`~aml_jupyter.compute.estimator.Estimator` whose environment adds its
framework's pip package. ``framework_version=None`` (the default) means the version the
submitting Python has: a run then needs no build when nothing else is asked for (v1's
``DEFAULT_VERSION`` pins — scikit-learn 0.20.3, torch 1.4, tensorflow 2.0 — have no wheels for
today's Pythons). A version given is pinned (``'1.4'`` as ``torch==1.4.*``) and built with uv
from PyPI; PyPI's torch for Linux is the CUDA build (gigabytes): for a CPU one, use a
requirements file with ``--index-url https://download.pytorch.org/whl/cpu``.
"""

from __future__ import annotations

from typing import Any

from .estimator import Estimator


class SKLearn(Estimator):
    """Estimator with scikit-learn (v1: no distributed training)."""

    _framework_package = "scikit-learn"
    DEFAULT_VERSION = "0.20.3"

    def __init__(self, source_directory: Any, **kwargs: Any) -> None:
        for key in ("distributed_backend", "distributed_training", "node_count"):
            if kwargs.get(key) not in (None, 1):
                from ..errors import AmlError

                raise AmlError(f"SKLearn does not take {key}= (v1 trains it on one node).")
        super().__init__(source_directory, **kwargs)


class PyTorch(Estimator):
    """Estimator with torch; ``distributed_training=Mpi()/Gloo()/Nccl()`` or
    ``distributed_backend='mpi'|'gloo'|'nccl'``."""

    _framework_package = "torch"
    DEFAULT_VERSION = "1.4"


class TensorFlow(Estimator):
    """Estimator with tensorflow; ``worker_count``/``parameter_server_count`` with
    ``distributed_backend='ps'`` as in v1 (parameter-server jobs are refused at submit: see
    :class:`~aml_jupyter.compute.distributed.TensorflowConfiguration`)."""

    _framework_package = "tensorflow"
    DEFAULT_VERSION = "2.0"

    def __init__(
        self,
        source_directory: Any,
        *,
        worker_count: int = 1,
        parameter_server_count: int = 1,
        **kwargs: Any,
    ) -> None:
        kwargs["_framework_options"] = {
            "worker_count": worker_count,
            "parameter_server_count": parameter_server_count,
        }
        super().__init__(source_directory, **kwargs)


__all__ = ["PyTorch", "SKLearn", "TensorFlow"]

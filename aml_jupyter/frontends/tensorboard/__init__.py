"""``Tensorboard``: TensorBoard over runs' ``./logs``, live, shared, and reachable through Jupyter.

Named as Azure ML v1's ``azureml.tensorboard.Tensorboard``::

    tb = Tensorboard([run])   # one named log folder per run
    tb.start()                # the URL; return ``tb`` from a cell to see it inline
    tb.stop()

It runs the real ``tensorboard`` package in its own process, bound to 127.0.0.1 only, with
``--logdir_spec <run id>:<folder>,...``. A submitted run's folder is the ``./logs`` its script
writes to, read live while the run goes on and kept in place when it ends. Other runs (a
notebook run that uploaded ``logs/...``) have their stored ``logs/`` files copied to
``local_root/<run id>/`` first.

One TensorBoard serves each set of runs: the instances live in ``<workspace>/tensorboard/
instances.json`` (pid, port, log folders, start time), and ``start()`` for the same runs,
from any kernel, returns the running one. In a kernel of a Jupyter server the URL goes through
jupyter-server-proxy (``<base_url>proxy/<port>/``), so it works when only Jupyter's port is
reachable: that proxy strips its prefix and TensorBoard's pages use relative links, so no
``--path_prefix`` is needed.

The package: :mod:`.board` the ``Tensorboard`` class, :mod:`.logs` the log folders it serves,
:mod:`.server` the TensorBoard processes, their ports and ``instances.json``, :mod:`.urls` the
URL a browser reaches one at.
"""

from __future__ import annotations

from .board import INSTALL_HINT, Tensorboard
from .server import HOST
from .urls import URL_PREFIX_ENV, jupyter_base_url, tensorboard_url

__all__ = [
    "HOST",
    "INSTALL_HINT",
    "URL_PREFIX_ENV",
    "Tensorboard",
    "jupyter_base_url",
    "tensorboard_url",
]

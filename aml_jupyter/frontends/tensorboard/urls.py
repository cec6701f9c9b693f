"""Where a browser reaches a TensorBoard: straight at 127.0.0.1, or through the Jupyter server
this kernel belongs to (jupyter-server-proxy), or where ``$AML_TENSORBOARD_URL_PREFIX`` says."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .server import HOST

#: Set to the start of TensorBoard URLs (``https://host/proxy/``, or with ``{port}``) to
#: override what ``start()`` works out.
URL_PREFIX_ENV = "AML_TENSORBOARD_URL_PREFIX"

_warned_no_proxy = False


def tensorboard_url(port: int) -> str:
    """Where a browser reaches TensorBoard on ``port`` from this kernel's notebook page."""
    prefix = os.environ.get(URL_PREFIX_ENV)
    if prefix:
        return prefix.format(port=port) if "{port}" in prefix else f"{prefix.rstrip('/')}/{port}/"
    proxy = os.environ.get("TENSORBOARD_PROXY_URL")  # what TensorBoard's own %tensorboard reads
    if proxy:
        return proxy.replace("%PORT%", str(port))
    base = jupyter_base_url()
    if base is not None:
        if importlib.util.find_spec("jupyter_server_proxy") is not None:
            return f"{base.rstrip('/')}/proxy/{port}/"
        global _warned_no_proxy
        if not _warned_no_proxy:
            _warned_no_proxy = True
            print(
                "jupyter-server-proxy is not installed, so TensorBoard is reachable only from "
                "this machine. `pip install jupyter-server-proxy` and restart Jupyter to reach "
                "it through Jupyter's port.",
                file=sys.stderr,
            )
    return f"http://{HOST}:{port}/"


def jupyter_base_url() -> str | None:
    """The base URL of the Jupyter server that started this kernel, or None outside one.

    The server is the one whose pid is ``$JPY_PARENT_PID`` among the running servers' info
    files; under JupyterHub ``$JUPYTERHUB_SERVICE_PREFIX`` is the base; a kernel with a
    ``$JPY_SESSION_NAME`` but no readable server info assumes ``/``.
    """
    parent = os.environ.get("JPY_PARENT_PID")
    if parent:
        for info in _running_servers():
            if str(info.get("pid")) == parent:
                return str(info.get("base_url") or "/")
    hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub:
        return hub
    return "/" if os.environ.get("JPY_SESSION_NAME") else None


def _running_servers() -> Iterator[dict[str, Any]]:
    """Info of the Jupyter servers in the runtime folder (what ``jupyter server list`` reads)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return
    folder = Path(jupyter_runtime_dir())
    for path in folder.glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            yield info

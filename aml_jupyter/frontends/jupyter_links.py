"""Links into the running Jupyter server's AML panels (``run.get_portal_url()``).

A Jupyter server writes ``jpserver-<pid>.json`` (its URL, pid, root folder) into Jupyter's
runtime folder while it runs; reading those files finds it without importing jupyter_server.
The sidebar opens ``<server>lab?aml-run=<id>`` (labextension/src/opening.ts).

That file holds the address the server listens on. Behind JupyterHub it is internal
(``http://127.0.0.1:PORT/user/NAME/``), so the link is made of what the hub gives the server
instead: ``JUPYTERHUB_PUBLIC_URL`` (or ``JUPYTERHUB_HOST``, with subdomains) and
``JUPYTERHUB_SERVICE_PREFIX``. ``AML_JUPYTER_PUBLIC_URL`` (ours: the server's address as users
reach it, e.g. behind another proxy) overrides both.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import psutil


def _runtime_dir() -> Path | None:
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:  # no Jupyter installed: no server either
        return None
    return Path(jupyter_runtime_dir())


def running_servers() -> list[dict[str, Any]]:
    """The info of every Jupyter server whose process still runs (newest file first)."""
    folder = _runtime_dir()
    if folder is None or not folder.is_dir():
        return []
    found = []
    files = sorted(folder.glob("jpserver-*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
    for path in files:
        try:
            info = json.loads(path.read_text())
            pid, url = int(info["pid"]), str(info["url"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # half-written, or not a server's file
        if url.startswith(("http://", "https://")) and psutil.pid_exists(pid):
            found.append(info)
    return found


def _serves(info: dict[str, Any], folder: Path) -> bool:
    root = info.get("root_dir") or info.get("notebook_dir")
    if not isinstance(root, str):
        return False
    try:
        return folder.resolve().is_relative_to(Path(root).expanduser().resolve())
    except OSError:
        return False


def run_url(workspace_folder: Path, run_id: str) -> str | None:
    """The run panel's link on the server that started this kernel, or one whose root holds
    the workspace (or the current folder); None when no running server fits."""
    servers = running_servers()
    parent = os.environ.get("JPY_PARENT_PID")
    fitting = [s for s in servers if parent and str(s.get("pid")) == parent]
    fitting += [s for s in servers if _serves(s, workspace_folder) or _serves(s, Path.cwd())]
    if not fitting:
        return None
    base = public_base(str(fitting[0]["url"]))
    return f"{base}lab?{urlencode({'aml-run': run_id})}"


def public_base(server_url: str) -> str:
    """The server's address as its users reach it (see the module's docstring), ending in /."""
    explicit = os.environ.get("AML_JUPYTER_PUBLIC_URL", "").strip()
    base = explicit or server_url
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "").strip()
    hub = (
        os.environ.get("JUPYTERHUB_HOST") or os.environ.get("JUPYTERHUB_PUBLIC_URL") or ""
    ).strip()
    origin = urlsplit(hub)
    if (
        not explicit
        and prefix.startswith("/")
        and origin.scheme in ("http", "https")
        and origin.netloc
    ):
        base = f"{origin.scheme}://{origin.netloc}{prefix}"
    return base if base.endswith("/") else base + "/"

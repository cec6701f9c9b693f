"""The Jupyter server extension: the AML REST API that the JupyterLab sidebar reads.

Enabled on install (``jupyter_server_config.d/aml_jupyter.json``); check with
``jupyter server extension list``. The workspace shown is the one ``Workspace.from_config()``
finds from the server's root folder, unless ``$AML_WORKSPACE`` or the
``c.AmlJupyter.workspace`` setting names another.
"""

from __future__ import annotations

from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable


class AmlJupyter(Configurable):
    """Settings of the aml_jupyter server extension (``c.AmlJupyter.<name>``)."""

    workspace = Unicode(
        "",
        help="Folder of the workspace to show (default: $AML_WORKSPACE, else the one found "
        "from the server's root folder upwards).",
    ).tag(config=True)


def _load_jupyter_server_extension(server_app: Any) -> None:
    from .handlers import setup_handlers
    from .service import WorkspaceService

    settings = AmlJupyter(parent=server_app)
    service = WorkspaceService(server_app.root_dir, settings.workspace)
    server_app.web_app.settings["aml_service"] = service
    setup_handlers(server_app.web_app)
    server_app.log.info("aml_jupyter: REST API at %saml/api/", server_app.base_url)


# The name jupyter_server 1.x looked for; harmless on 2.x.
load_jupyter_server_extension = _load_jupyter_server_extension

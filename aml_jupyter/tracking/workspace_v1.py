"""What v1 notebooks ask a workspace first: its identity (``ws.name``, ``subscription_id``,
``resource_group``, ``location``), ``Workspace.get``, ``write_config``, ``get_details``; and
opening the local workspace of a v1 ``config.json`` (:func:`open_for_v1_config`).

A local workspace has no Azure identity. Where a v1 config.json was read, its values are kept
and shown; otherwise they read :data:`LOCAL`. Nothing here reaches Azure.
"""

from __future__ import annotations

import os
import uuid
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .v1_config import WORKSPACE_KEY, V1Config, write_v1_config

if TYPE_CHECKING:
    from ..store import WorkspaceStore
    from .workspace import Workspace

#: ``subscription_id``, ``resource_group`` and ``location`` of a workspace no v1 config named.
LOCAL = "local"
#: The settings a v1 config.json gives a workspace.
V1_KEYS = ("name", "subscription_id", "resource_group")


class WorkspaceV1:
    """v1's identity and config methods of :class:`~aml_jupyter.Workspace`."""

    folder: Path
    store: WorkspaceStore
    _settings_cache: dict[str, str] | None = None

    def _settings(self) -> dict[str, str]:
        """The workspace's settings (read once per object; it sets them through here)."""
        if self._settings_cache is None:
            self._settings_cache = self.store.workspace_settings()
        return self._settings_cache

    def _set_settings(self, settings: dict[str, str], replace: bool = True) -> None:
        self.store.set_workspace_settings(settings, replace=replace)
        self._settings_cache = None

    def _folder_name(self) -> str:
        return self.folder.parent.name if self.folder.name == ".aml" else self.folder.name

    @property
    def name(self) -> str:
        """The workspace's name: a v1 config.json's ``workspace_name`` where one was read,
        else the name of the project folder that holds the workspace."""
        return self._settings().get("name") or self._folder_name()

    @property
    def subscription_id(self) -> str:
        """The v1 config's ``subscription_id``, else ``'local'`` (no Azure subscription)."""
        return self._settings().get("subscription_id") or LOCAL

    @property
    def resource_group(self) -> str:
        """The v1 config's ``resource_group``, else ``'local'``."""
        return self._settings().get("resource_group") or LOCAL

    @property
    def location(self) -> str:
        """Always ``'local'`` unless ``Workspace.create(location=...)`` recorded one: the
        workspace is this folder."""
        return self._settings().get("location") or LOCAL

    @property
    def _id(self) -> str:
        """A random id, made the first time it is asked for (kept in the workspace)."""
        if "id" not in self._settings():
            self._set_settings({"id": str(uuid.uuid4())}, replace=False)
        return self._settings()["id"]

    @property
    def _created_utc(self) -> float:
        """When the workspace was made: its ``.gitignore``'s time (written once, at create),
        kept in the workspace the first time it is asked for, so it never moves."""
        if "created_utc" not in self._settings():
            try:
                made = (self.folder / ".gitignore").stat().st_mtime
            except OSError:
                made = datetime.now(timezone.utc).timestamp()
            self._set_settings({"created_utc": repr(made)}, replace=False)
        return float(self._settings()["created_utc"])

    @staticmethod
    def get(
        name: str,
        auth: Any = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        cloud: str = "AzureCloud",
        id: str | None = None,
    ) -> Workspace:
        """The local workspace named ``name``: the one ``from_config()`` finds from here
        (``$AML_WORKSPACE``, a ``.aml`` folder or a v1 config.json in this folder or a
        parent), or ``./<name>`` (where ``Workspace.create(name)`` puts it). Given a
        ``subscription_id`` or ``resource_group``, a workspace that recorded other ones from
        its v1 config does not match. ``auth``, ``location``, ``cloud``, ``id``: accepted."""
        from .workspace import Workspace

        tried: list[str] = []
        candidates: list[Any] = [lambda: Workspace.from_config()]
        if (Path(name) / ".aml" / "aml.db").exists():
            candidates.append(lambda: Workspace(name))
        for candidate in candidates:
            try:
                ws = candidate()
            except AmlError:
                continue
            wanted = {"name": name, "subscription_id": subscription_id}
            wanted["resource_group"] = resource_group
            mismatch = [
                f"{k}={getattr(ws, k)!r}"
                for k, v in wanted.items()
                if v is not None and getattr(ws, k) not in (v, LOCAL)
            ]
            if not mismatch:
                return ws
            tried.append(f"{ws.folder} ({', '.join(mismatch)})")
        found = f" Found, but not matching: {'; '.join(tried)}." if tried else ""
        raise AmlError(
            f"No local workspace named {name!r} here.{found} Create it with "
            f"Workspace.create({name!r}), or put its v1 config.json in this folder."
        )

    def get_default_keyvault(self) -> Any:
        """The workspace's :class:`~.keyvault.Keyvault`: secrets kept encrypted, the key
        outside the workspace (see :mod:`aml_jupyter.store.secrets`)."""
        from .keyvault import Keyvault

        return Keyvault(self)  # type: ignore[arg-type]

    @property
    def datastores(self) -> dict[str, Any]:
        """v1's datastores by name: ``workspaceblobstore`` (a folder of the workspace) and
        every registered one."""
        from . import plugins  # data is a higher layer (see tracking.plugins)

        return dict(plugins.load("datastores")(self))

    def get_default_datastore(self) -> Any:
        """v1's default datastore: ``workspaceblobstore`` (a folder of the workspace) unless
        another was made the default with ``datastore.set_as_default()``."""
        from . import plugins  # data is a higher layer (see tracking.plugins)

        return plugins.load("datastore").get_default(self)

    def write_config(
        self, path: str | os.PathLike[str] | None = None, file_name: str | None = None
    ) -> str:
        """Write v1's ``config.json`` into ``<path or .>/.azureml/`` (``file_name`` to name it
        otherwise); ``Workspace.from_config()`` from that folder opens this workspace again.
        Returns the file's path."""
        settings = {
            "subscription_id": self.subscription_id,
            "resource_group": self.resource_group,
            "workspace_name": self.name,
            WORKSPACE_KEY: str(self.folder),
        }
        return str(write_v1_config(path, file_name, settings))

    def get_details(self) -> dict[str, Any]:
        """A dict describing the workspace, in v1's ``get_details`` keys where they apply."""
        created = datetime.fromtimestamp(self._created_utc, timezone.utc).isoformat()
        return {
            "id": (
                f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.name}"
            ),
            "name": self.name,
            "friendlyName": self.name,
            "location": self.location,
            "subscriptionId": self.subscription_id,
            "resourceGroup": self.resource_group,
            "workspaceid": self._id,
            "creationTime": created,
            "type": "local",
            "kind": "local",
            "path": str(self.folder),
        }


def open_for_v1_config(config: V1Config) -> tuple[Workspace, bool]:
    """The local workspace of a v1 project folder: the one its config names, else
    ``<project folder>/.aml``, created (saying so in one line) when it is not there yet;
    second item: created. It takes the config's name, subscription and resource group."""
    from .workspace import DB_NAME, Workspace, _workspace_folder

    folder = _workspace_folder(config.workspace_folder or config.project_folder)
    if config.workspace_folder is not None and not (folder / DB_NAME).exists():
        raise AmlError(
            f"{config.path} names the local workspace {config.workspace_folder}, which is not "
            "there. Remove its 'aml_jupyter_workspace' line to use a workspace next to it."
        )
    created = not (folder / DB_NAME).exists()
    ws = Workspace.create(folder) if created else Workspace(folder)
    values = {"name": config.workspace_name}
    if config.subscription_id:
        values["subscription_id"] = config.subscription_id
    if config.resource_group:
        values["resource_group"] = config.resource_group
    if any(ws._settings().get(k) != v for k, v in values.items()):
        ws._set_settings(values)
    if created:
        print(
            f"Created the local workspace {config.workspace_name!r} in {folder} for the v1 "
            f"config {config.path} (kept on this machine; nothing goes to Azure)."
        )
    return ws, created

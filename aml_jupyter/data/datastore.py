"""Datastores: where a dataset's bytes live, each reached through one fsspec filesystem.

Every kind (a workspace folder, a local folder, Azure Blob, S3 ...) answers the same three
questions, and datasets, runs and uploads ask only those: :meth:`Datastore.filesystem` (an
fsspec filesystem with the credentials applied), :meth:`Datastore.fs_path` (where a
datastore-relative path is inside it) and :meth:`Datastore.display_url` (an address to show,
never holding a secret). ``workspaceblobstore``, v1's default datastore, is a folder of the
workspace: ``<workspace>/datastores/workspaceblobstore/``.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    import fsspec

    from ..tracking.workspace import Workspace

#: v1's name for a workspace's default datastore.
DEFAULT_NAME = "workspaceblobstore"


def relative_path(path: str | None) -> str:
    """``path`` as a clean datastore-relative POSIX path ('' for the root); refuses absolute
    paths and any ``..`` that would leave the datastore."""
    text = (path or "").replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise AmlError(f"A datastore path is relative to the datastore; got {path!r}.")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise AmlError(f"A datastore path may not contain '..'; got {path!r}.")
    return posixpath.join(*parts) if parts else ""


class Datastore:
    """A named place holding files (v1's ``Datastore``); subclasses say where and how."""

    #: v1's type name (``AzureBlob``, ``AzureFile`` ...; ours: ``Local``, ``S3``).
    datastore_type = "Local"

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name

    def filesystem(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem this datastore's files are in, credentials applied."""
        raise NotImplementedError

    def fs_path(self, path: str | None = None) -> str:
        """Where the datastore-relative ``path`` is inside :meth:`filesystem`."""
        raise NotImplementedError

    def display_url(self, path: str | None = None) -> str:
        """An address of ``path`` to show (no credentials in it)."""
        return f"azureml://datastores/{self.name}/paths/{relative_path(path)}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class LocalDatastore(Datastore):
    """A folder on this machine (ours: v1 had none); ``workspaceblobstore`` is one."""

    datastore_type = "Local"

    def __init__(self, workspace: Workspace, name: str, folder: str | Path) -> None:
        super().__init__(workspace, name)
        self.folder = Path(folder)

    def filesystem(self) -> fsspec.AbstractFileSystem:
        from fsspec.implementations.local import LocalFileSystem

        return LocalFileSystem()

    def fs_path(self, path: str | None = None) -> str:
        rel = relative_path(path)
        return (self.folder / rel).as_posix() if rel else self.folder.as_posix()


def default_datastore(workspace: Workspace) -> Datastore:
    """``workspaceblobstore``: a folder of the workspace, made when first asked for."""
    folder = workspace.folder / "datastores" / DEFAULT_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return LocalDatastore(workspace, DEFAULT_NAME, folder)


def get_datastore(workspace: Workspace, name: str) -> Datastore:
    """The datastore ``name`` of ``workspace``; an :class:`AmlError` naming the known ones when
    there is none."""
    if name == DEFAULT_NAME:
        return default_datastore(workspace)
    known: list[Any] = [DEFAULT_NAME]
    raise AmlError(f"No datastore named {name!r}; known: {', '.join(known)}.")

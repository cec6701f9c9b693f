"""Datastores: where a dataset's bytes live, each reached through one fsspec filesystem.

Every kind (a workspace folder, a local folder, Azure Blob, ADLS Gen2, S3) answers the same
three questions, and datasets, runs and uploads ask only those: :meth:`Datastore.filesystem`
(an fsspec filesystem with the credentials applied), :meth:`Datastore.fs_path` (where a
datastore-relative path is inside it) and :meth:`Datastore.display_url` (an address to show,
never holding a secret). ``workspaceblobstore``, v1's default datastore, is a folder of the
workspace: ``<workspace>/datastores/workspaceblobstore/``.

v1's class API is here too: ``Datastore(ws, name)`` and ``Datastore.get`` (the right kind),
``Datastore.register_*`` (:mod:`.datastore_registration`), ``upload``/``download``
(:mod:`.datastore_transfer`), ``path()`` (:mod:`.data_reference`). A registered datastore's
settings are a store record; its credentials are the workspace's encrypted secrets, read only
when its filesystem is made.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    import fsspec

    from ..store.types import DatastoreRecord
    from ..tracking.workspace import Workspace
    from .data_reference import DataReference

#: v1's name for a workspace's default datastore.
DEFAULT_NAME = "workspaceblobstore"


def relative_path(path: str | None) -> str:
    """``path`` as a clean datastore-relative POSIX path ('' for the root); refuses absolute
    paths and any ``..`` that would leave the datastore."""
    if path is not None and not isinstance(path, str):
        raise AmlError(f"A datastore path is a string; got {type(path).__name__}.")
    text = (path or "").replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        raise AmlError(f"A datastore path is relative to the datastore; got {path!r}.")
    if "\x00" in text:
        raise AmlError(f"A datastore path may not hold a NUL character; got {path!r}.")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise AmlError(f"A datastore path may not contain '..'; got {path!r}.")
    return posixpath.join(*parts) if parts else ""


class _DatastoreType(type):
    """``Datastore(ws, name)`` is v1's look-up: it returns the registered kind (an
    ``AzureBlobDatastore``, ...); the kinds' own constructors build one directly."""

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        if cls is Datastore:
            return _look_up(*args, **kwargs)
        return super().__call__(*args, **kwargs)


def _look_up(workspace: Workspace, name: str | None = None) -> Datastore:
    """``Datastore(workspace, name=None)``, v1's parameter names."""
    return Datastore.get(workspace, name)


class Datastore(metaclass=_DatastoreType):
    """A named place holding files (v1's ``Datastore``); subclasses say where and how.

    ``Datastore(workspace, name=None)``: the registered datastore ``name`` (the default one
    when no name is given), as v1."""

    #: v1's type name (``AzureBlob``, ``AzureDataLakeGen2``; ours: ``Local``, ``S3``).
    datastore_type = "Local"

    def __init__(self, workspace: Workspace, name: str) -> None:
        self.workspace = workspace
        self.name = name

    # the seam: what datasets, runs and transfers use -------------------------------------
    def filesystem(self) -> fsspec.AbstractFileSystem:
        """The fsspec filesystem this datastore's files are in, credentials applied."""
        raise NotImplementedError

    def fs_path(self, path: str | None = None) -> str:
        """Where the datastore-relative ``path`` is inside :meth:`filesystem`."""
        raise NotImplementedError

    def display_url(self, path: str | None = None) -> str:
        """An address of ``path`` to show (no credentials in it)."""
        return f"azureml://datastores/{self.name}/paths/{relative_path(path)}"

    # v1: finding and registering ---------------------------------------------------------
    @staticmethod
    def get(workspace: Workspace, datastore_name: str | None = None) -> Datastore:
        """The datastore ``datastore_name`` of ``workspace``, of its registered kind (the
        default datastore when no name is given)."""
        if datastore_name is None:
            return Datastore.get_default(workspace)
        return get_datastore(workspace, datastore_name)

    @staticmethod
    def get_default(workspace: Workspace) -> Datastore:
        """The workspace's default datastore: ``workspaceblobstore`` unless another was made
        the default with :meth:`set_as_default`."""
        name = workspace.store.default_datastore_name()
        if name and workspace.store.get_datastore(name) is not None:
            return get_datastore(workspace, name)
        return default_datastore(workspace)

    @staticmethod
    def register_azure_blob_container(*args: Any, **kwargs: Any) -> Datastore:
        """v1's registration of an Azure Blob container; see
        :func:`.datastore_registration.register_azure_blob_container`."""
        from .datastore_registration import register_azure_blob_container

        return register_azure_blob_container(*args, **kwargs)

    @staticmethod
    def register_azure_data_lake_gen2(*args: Any, **kwargs: Any) -> Datastore:
        """v1's registration of an ADLS Gen2 file system; see
        :func:`.datastore_registration.register_azure_data_lake_gen2`."""
        from .datastore_registration import register_azure_data_lake_gen2

        return register_azure_data_lake_gen2(*args, **kwargs)

    @staticmethod
    def register_azure_file_share(*args: Any, **kwargs: Any) -> Datastore:
        """Not provided: no fsspec filesystem for Azure Files is installed (see
        :func:`.datastore_registration.register_azure_file_share`)."""
        from .datastore_registration import register_azure_file_share

        return register_azure_file_share(*args, **kwargs)

    @staticmethod
    def register_local(*args: Any, **kwargs: Any) -> Datastore:
        """Ours: a folder of this machine as a datastore; see
        :func:`.datastore_registration.register_local`."""
        from .datastore_registration import register_local

        return register_local(*args, **kwargs)

    @staticmethod
    def register_s3(*args: Any, **kwargs: Any) -> Datastore:
        """Ours: an S3 bucket (AWS or any S3-compatible store); see
        :func:`.datastore_registration.register_s3`."""
        from .datastore_registration import register_s3

        return register_s3(*args, **kwargs)

    def unregister(self) -> None:
        """Forget this datastore and its credentials (its files stay where they are). The
        workspace's own ``workspaceblobstore`` cannot be unregistered."""
        if self.name == DEFAULT_NAME:
            raise AmlError("workspaceblobstore is the workspace's own datastore; it stays.")
        if self.workspace.store.get_datastore(self.name) is None:
            raise AmlError(f"No datastore named {self.name!r} is registered.")
        self.workspace.store.delete_datastore(self.name)

    def set_as_default(self) -> None:
        """Make this the workspace's default datastore (``ws.get_default_datastore()``)."""
        if self.name == DEFAULT_NAME:
            self.workspace.store.set_default_datastore(None)
            return
        if self.workspace.store.get_datastore(self.name) is None:
            raise AmlError(f"No datastore named {self.name!r} is registered.")
        self.workspace.store.set_default_datastore(self.name)

    # v1: moving files --------------------------------------------------------------------
    def upload(
        self,
        src_dir: str | Path,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Copy the folder ``src_dir`` (all its files, recursively) to ``target_path`` of
        this datastore; files there already are kept unless ``overwrite`` (v1: skipped).
        Returns a :class:`DataReference` to ``target_path``. Each file lands whole or not at
        all (see :mod:`.datastore_transfer`)."""
        from .datastore_transfer import upload_folder

        upload_folder(self, src_dir, target_path, overwrite, show_progress)
        return self.path(target_path)

    def upload_files(
        self,
        files: Iterable[str | Path],
        relative_root: str | Path | None = None,
        target_path: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> DataReference:
        """Copy ``files`` to ``target_path``, each at its path relative to ``relative_root``
        (default: the files' common folder), as v1. Returns a :class:`DataReference`."""
        from .datastore_transfer import upload_files

        upload_files(self, files, relative_root, target_path, overwrite, show_progress)
        return self.path(target_path)

    def download(
        self,
        target_path: str | Path,
        prefix: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> int:
        """Copy the files under ``prefix`` (all, when None) into the local folder
        ``target_path``, keeping their datastore paths; local files there already are kept
        unless ``overwrite``. Returns how many files were downloaded, as v1."""
        from .datastore_transfer import download

        return download(self, target_path, prefix, overwrite, show_progress)

    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        """A reference to ``path`` of this datastore (v1's ``DataReference``): what a
        ``(datastore, 'path')`` tuple means to ``Dataset.File.from_files``."""
        from .data_reference import DataReference

        return DataReference(self, path, data_reference_name)

    def as_mount(self) -> DataReference:
        """v1's (deprecated) reference to the whole datastore, mounted into a run."""
        return self.path().as_mount()

    def as_download(self, path_on_compute: str | None = None) -> DataReference:
        """v1's (deprecated) reference to the whole datastore, downloaded for a run."""
        return self.path().as_download(path_on_compute)

    def _credentials(self) -> dict[str, str]:
        """This datastore's credentials, decrypted from the workspace's secrets."""
        return self.workspace.store.datastore_credentials(self.name)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Datastore)
            and other.name == self.name
            and other.workspace == self.workspace
        )

    def __hash__(self) -> int:
        return hash(("datastore", self.name))


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

    def __repr__(self) -> str:
        return f"LocalDatastore(name={self.name!r}, folder={str(self.folder)!r})"


def default_datastore(workspace: Workspace) -> Datastore:
    """``workspaceblobstore``: a folder of the workspace, made when first asked for."""
    folder = workspace.folder / "datastores" / DEFAULT_NAME
    folder.mkdir(parents=True, exist_ok=True)
    return LocalDatastore(workspace, DEFAULT_NAME, folder)


def from_record(workspace: Workspace, record: DatastoreRecord) -> Datastore:
    """The datastore object of a registered datastore's record."""
    if record.kind == "Local":
        return LocalDatastore(workspace, record.name, record.config["folder"])
    from .datastore_kinds import KINDS

    kind = KINDS.get(record.kind)
    if kind is None:
        raise AmlError(
            f"Datastore {record.name!r} is of kind {record.kind!r}, which this version of "
            "aml_jupyter does not know; upgrade aml_jupyter, or unregister it."
        )
    return kind(workspace, record.name, record.config)


def all_datastores(workspace: Workspace) -> dict[str, Datastore]:
    """Every datastore of ``workspace`` by name (``ws.datastores``), ``workspaceblobstore``
    first."""
    found: dict[str, Datastore] = {DEFAULT_NAME: default_datastore(workspace)}
    for record in workspace.store.list_datastores():
        found[record.name] = from_record(workspace, record)
    return found


def get_datastore(workspace: Workspace, name: str) -> Datastore:
    """The datastore ``name`` of ``workspace``; an :class:`AmlError` naming the known ones when
    there is none."""
    if name == DEFAULT_NAME:
        return default_datastore(workspace)
    if not isinstance(name, str):
        raise AmlError(f"A datastore name is a string; got {type(name).__name__}.")
    record = workspace.store.get_datastore(name)
    if record is None:
        known = [DEFAULT_NAME, *(r.name for r in workspace.store.list_datastores())]
        raise AmlError(
            f"No datastore named {name!r:.120}; known: {', '.join(known)}. Register one with "
            "Datastore.register_azure_blob_container, register_s3 or register_local."
        )
    return from_record(workspace, record)

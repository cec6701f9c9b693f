"""The workspace store: one interface (:class:`WorkspaceStore`, typed records), backends
picked by the workspace's address (:func:`open_store`).

The embedded backend keeps SQLite metadata, content-addressed blobs and per-run metric files
in a folder; a team workspace server (``http(s)://``) is a later backend.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import AmlError
from .base import WorkspaceStore
from .blobs import BlobStore, hash_file
from .types import (
    ComputeTargetRecord,
    DatastoreRecord,
    EnvironmentRecord,
    ExperimentRecord,
    FileHashRecord,
    FileRecord,
    ModelRecord,
    RunRecord,
    ServiceRecord,
)


def is_server_address(address: str | os.PathLike[str]) -> bool:
    """Whether ``address`` names a team workspace server rather than a folder."""
    return isinstance(address, str) and address.lower().startswith(("http://", "https://"))


def open_store(address: str | os.PathLike[str], create: bool = False) -> WorkspaceStore:
    """The store at ``address``: a workspace folder (``.../.aml``) is the embedded store.

    ``create``: make the folder's database first when there is none.
    """
    if is_server_address(address):
        raise AmlError(
            f"{address} is a team workspace server address; this version of aml_jupyter "
            "opens only workspace folders. Use a folder path (e.g. Workspace.create('.'))."
        )
    from .embedded import EmbeddedStore

    folder = Path(address)
    if create:
        EmbeddedStore.create(folder)
    return EmbeddedStore(folder)


def create_store(folder: str | os.PathLike[str]) -> None:
    """Make ``folder`` a new workspace store without opening it (a database there stays)."""
    from .embedded import EmbeddedStore

    EmbeddedStore.create(Path(folder))


__all__ = [
    "BlobStore",
    "ComputeTargetRecord",
    "DatastoreRecord",
    "EnvironmentRecord",
    "ExperimentRecord",
    "FileHashRecord",
    "FileRecord",
    "ModelRecord",
    "RunRecord",
    "ServiceRecord",
    "WorkspaceStore",
    "create_store",
    "hash_file",
    "is_server_address",
    "open_store",
]

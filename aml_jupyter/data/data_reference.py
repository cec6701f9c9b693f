"""v1's ``DataReference`` (``datastore.path('folder')``) and ``DataPath``: a datastore and a
path inside it, the same thing a ``(datastore, 'path/**')`` tuple means to
``Dataset.File.from_files``. How it reaches a run (mount or download) is its ``mode``."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .datastore import relative_path

if TYPE_CHECKING:
    from .datastore import Datastore

#: The ways v1 let a reference reach a run.
MODES = ("mount", "download", "upload", "direct")


class DataReference:
    """``datastore`` + ``path_on_datastore`` (v1's names), with how a run gets it."""

    def __init__(
        self,
        datastore: Datastore,
        path_on_datastore: str | None = None,
        data_reference_name: str | None = None,
        mode: str = "mount",
        path_on_compute: str | None = None,
        overwrite: bool = False,
    ) -> None:
        if mode not in MODES:
            raise AmlError(f"mode is one of {', '.join(MODES)}; got {mode!r}.")
        self.datastore = datastore
        self.path_on_datastore = relative_path(path_on_datastore)
        self.data_reference_name = data_reference_name or f"{datastore.name}_ref"
        self.mode = mode
        self.path_on_compute = path_on_compute
        self.overwrite = overwrite

    @property
    def datastore_name(self) -> str:
        return self.datastore.name

    def path(
        self, path: str | None = None, data_reference_name: str | None = None
    ) -> DataReference:
        """A reference to ``path`` under this one (v1's ``DataReference.path``)."""
        joined = posixpath.join(self.path_on_datastore, relative_path(path))
        return self._copy(path_on_datastore=joined, data_reference_name=data_reference_name)

    def as_mount(self) -> DataReference:
        """This reference, mounted into a run (here: a local path on every target)."""
        return self._copy(mode="mount")

    def as_download(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        """This reference, downloaded before the run starts."""
        return self._copy(mode="download", path_on_compute=path_on_compute, overwrite=overwrite)

    def as_upload(
        self, path_on_compute: str | None = None, overwrite: bool = False
    ) -> DataReference:
        """This reference, uploaded from the run's ``path_on_compute`` when it ends."""
        return self._copy(mode="upload", path_on_compute=path_on_compute, overwrite=overwrite)

    def fs_path(self) -> str:
        """Where it is in its datastore's filesystem."""
        return self.datastore.fs_path(self.path_on_datastore)

    def display_url(self) -> str:
        return self.datastore.display_url(self.path_on_datastore)

    def to_tuple(self) -> tuple[Datastore, str]:
        """``(datastore, path)``, as ``Dataset.File.from_files`` takes it."""
        return (self.datastore, self.path_on_datastore)

    def _copy(self, **changes: Any) -> DataReference:
        values: dict[str, Any] = {
            "path_on_datastore": self.path_on_datastore,
            "data_reference_name": self.data_reference_name,
            "mode": self.mode,
            "path_on_compute": self.path_on_compute,
            "overwrite": self.overwrite,
        }
        values.update({k: v for k, v in changes.items() if v is not None or k == "path_on_compute"})
        return DataReference(self.datastore, **values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataReference) and (
            other.datastore,
            other.path_on_datastore,
            other.mode,
        ) == (self.datastore, self.path_on_datastore, self.mode)

    def __hash__(self) -> int:
        return hash((self.datastore.name, self.path_on_datastore, self.mode))

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self.data_reference_name}"

    def __repr__(self) -> str:
        return (
            f"DataReference(datastore={self.datastore.name!r}, "
            f"path_on_datastore={self.path_on_datastore!r}, mode={self.mode!r})"
        )


class DataPath:
    """v1's ``DataPath(datastore, path_on_datastore, name)``: a datastore and a path, for
    datasets (``Dataset.File.from_files(DataPath(ds, 'folder'))``)."""

    def __init__(
        self,
        datastore: Datastore | None = None,
        path_on_datastore: str | None = None,
        name: str | None = None,
    ) -> None:
        if datastore is None:
            raise AmlError("A DataPath needs its datastore: DataPath(datastore, 'path').")
        self.datastore = datastore
        self.path_on_datastore = relative_path(path_on_datastore)
        self.name = name

    def to_tuple(self) -> tuple[Datastore, str]:
        return (self.datastore, self.path_on_datastore)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DataPath) and other.to_tuple() == self.to_tuple()

    def __hash__(self) -> int:
        return hash((self.datastore.name, self.path_on_datastore))

    def __repr__(self) -> str:
        return f"DataPath(datastore={self.datastore.name!r}, path={self.path_on_datastore!r})"

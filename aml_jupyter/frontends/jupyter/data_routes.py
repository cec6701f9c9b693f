"""What the REST API does for data: the datasets (latest of each, one name's versions, one
version's details with its files a page at a time and its lineage) and the datastores (their
kind, where and settings; never credentials: those stay encrypted in the key vault)."""

from __future__ import annotations

from typing import Any

from ..dataset_views import dataset_details, dataset_rows, dataset_versions, datastore_rows
from .api_error import ApiError

#: File names one details answer holds by default, and at most.
DEFAULT_FILES = 200
MAX_FILES = 1000


class DataRoutes:
    """Datasets and datastores, for :class:`~.service.WorkspaceService` (which finds the
    workspace: ``_find``)."""

    def _find(self) -> Any:
        raise NotImplementedError

    def datasets(self) -> dict[str, Any]:
        return {"datasets": dataset_rows(self._find())}

    def _known(self, ws: Any, name: str, version: int | None = None) -> None:
        """404 for a dataset name or version the workspace does not have."""
        versions = ws.store.dataset_versions(name)
        if not versions:
            raise ApiError(404, f"No dataset named {name!r} in this workspace.", "no-dataset")
        if version is not None and version not in versions:
            raise ApiError(
                404,
                f"Dataset {name!r} has no version {version}; its versions: "
                f"{', '.join(map(str, versions))}.",
                "no-dataset",
            )

    def dataset(self, name: str) -> dict[str, Any]:
        ws = self._find()
        self._known(ws, name)
        return {"name": name, "versions": dataset_versions(ws, name)}

    def dataset_version(
        self, name: str, version: int, offset: int = 0, limit: int = DEFAULT_FILES
    ) -> dict[str, Any]:
        if not 1 <= limit <= MAX_FILES:
            raise ApiError(400, f"limit must be 1 to {MAX_FILES}, got {limit}.", "bad-request")
        ws = self._find()
        self._known(ws, name, version)
        return dataset_details(ws, name, version, max_files=limit, files_offset=offset)

    def datastores(self) -> dict[str, Any]:
        return {"datastores": datastore_rows(self._find())}

"""What a workspace store hands out: typed, immutable records (never a backend's rows).

Every backend (the embedded SQLite + folder store today, a team server later) returns these,
so the layers above read ``record.status``, not a column of a table. They are named tuples:
immutable like frozen dataclasses, but about six times cheaper to define, which every process
that opens a workspace (a run's supervisor, the CLI, a script's ``Run.get_context()``) pays at
import; ``record._replace(field=value)`` makes a changed copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple


class ExperimentRecord(NamedTuple):
    """An experiment with how many top-level runs it has and when the latest one started."""

    name: str
    created_utc: float
    run_count: int = 0
    last_run_utc: float | None = None
    archived: bool = False


class RunRecord(NamedTuple):
    """One run as the store keeps it.

    ``tags`` is None unless the read asked for them (``list_runs(with_tags=True)``): a page
    of runs gets its tags in one batched read instead of one read per run.
    """

    id: str
    experiment: str
    number: int
    run_type: str
    status: str
    created_utc: float
    display_name: str | None = None
    description: str | None = None
    parent_id: str | None = None
    target: str | None = None
    definition: Mapping[str, Any] = MappingProxyType({})
    snapshot_id: str | None = None
    started_utc: float | None = None
    ended_utc: float | None = None
    exit_code: int | None = None
    #: ``{"code": ..., "message": ...}`` for a run that failed (or was told to).
    error: Mapping[str, Any] | None = None
    #: The process that owns the run (what its target reported), for liveness checks.
    pid: int | None = None
    pid_started: str | None = None
    host: str | None = None
    child_pid: int | None = None
    tags: Mapping[str, str | None] | None = None

    def with_tags(self, tags: Mapping[str, str | None]) -> RunRecord:
        """The same record carrying ``tags``."""
        return self._replace(tags=dict(tags))


class FileRecord(NamedTuple):
    """A file stored with a run: its name in the run, content hash and size."""

    name: str
    sha256: str
    size: int


class FileHashRecord(NamedTuple):
    """A remembered content hash of a local file, with the stat it was taken at."""

    path: str
    size: int
    mtime_ns: int
    inode: int
    sha256: str


class EnvironmentRecord(NamedTuple):
    """One registered version of an environment."""

    name: str
    version: int
    hash: str
    spec: Mapping[str, Any]
    created_utc: float


class ComputeTargetRecord(NamedTuple):
    """A registered compute target: its name, kind (``local``, ``computeinstance`` …) and
    configuration."""

    name: str
    type: str
    config: Mapping[str, Any]


class ModelRecord(NamedTuple):
    """One registered version of a model (its files are listed by the ``manifest`` blob)."""

    name: str
    version: int
    manifest: str
    path: str
    is_folder: bool
    size: int
    file_count: int
    created_utc: float
    description: str | None = None
    framework: str | None = None
    framework_version: str | None = None
    run_id: str | None = None
    experiment: str | None = None


# services ---------------------------------------------------------------------------------
class ServiceRecord(NamedTuple):
    """A deployed scoring service: its name and spec (port, workers, models, entry script,
    Python ... as :mod:`aml_jupyter.registry.deployment` wrote it). Its live files (pid, log,
    statistics) are in its :class:`~.service_folder.ServiceFolder`."""

    name: str
    spec: Mapping[str, Any]
    created_utc: float
    updated_utc: float


# datastores -------------------------------------------------------------------------------
class DatastoreRecord(NamedTuple):
    """A registered datastore: its name, kind (``AzureBlob``, ``AzureDataLakeGen2``, ``S3``,
    ``Local``) and settings (account, container, endpoint, bucket, folder ...). Never its
    credentials: those are the encrypted secret ``credentials_secret`` names (None: it has
    none), read only through ``store.datastore_credentials``."""

    name: str
    kind: str
    config: Mapping[str, Any]
    created_utc: float
    credentials_secret: str | None = None


# datasets ---------------------------------------------------------------------------------
class DatasetRecord(NamedTuple):
    """One registered version of a dataset: ``kind`` is ``file`` or ``tabular``, ``definition``
    what it reads (sources, format, transforms; see :mod:`aml_jupyter.data`), ``fingerprint``
    the hash of its file list (paths, sizes, sha256) the version is pinned to."""

    id: str
    name: str
    version: int
    kind: str
    definition: Mapping[str, Any]
    fingerprint: str
    file_count: int
    size: int
    description: str | None
    created_utc: float
    tags: Mapping[str, str | None] = MappingProxyType({})


class DatasetFileRecord(NamedTuple):
    """A file of a registered dataset version, as it was when the version was registered."""

    path: str
    size: int
    sha256: str


class RunDatasetRecord(NamedTuple):
    """Lineage: a run read (``input``) or wrote (``output``) a dataset version as ``name``."""

    run_id: str
    direction: str
    name: str
    dataset_id: str


__all__ = [
    "ComputeTargetRecord",
    "DatasetFileRecord",
    "DatasetRecord",
    "DatastoreRecord",
    "EnvironmentRecord",
    "ExperimentRecord",
    "FileHashRecord",
    "FileRecord",
    "ModelRecord",
    "RunDatasetRecord",
    "RunRecord",
    "ServiceRecord",
]

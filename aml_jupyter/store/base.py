"""The workspace store interface: everything tracking, compute, registry and front ends keep.

A backend is picked by the workspace's address (see :func:`aml_jupyter.store.open_store`): a
folder is the embedded SQLite + files store; a team workspace server is a later backend.
Backends speak in typed records (:mod:`.types`) and plain values, never in SQL rows, and are
checked by one conformance suite (``tests/test_store_conformance.py``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .types import (
    ComputeTargetRecord,
    DatasetFileRecord,
    DatasetRecord,
    DatastoreRecord,
    EnvironmentRecord,
    ExperimentRecord,
    FileHashRecord,
    FileRecord,
    ModelRecord,
    RunDatasetRecord,
    RunRecord,
    ServiceRecord,
)

if TYPE_CHECKING:
    from typing import BinaryIO

    from .blobs import BlobStore
    from .metric_columns import MetricColumns
    from .metric_writer import MetricWriter
    from .metrics import Point
    from .run_folder import RunFolder
    from .service_folder import ServiceFolder

#: What runs can be sorted by.
SORT_KEYS = ("created", "started", "number")


class WorkspaceStore(ABC):
    """Experiments, runs, their tags, properties, files and metric summaries, environments,
    snapshots, compute targets and models of one workspace."""

    #: Content-addressed files (snapshots, run outputs, models).
    blobs: BlobStore

    # experiments ----------------------------------------------------------------------------
    @abstractmethod
    def ensure_experiment(self, name: str) -> None:
        """Create experiment ``name`` unless it exists."""

    @abstractmethod
    def experiment_names(self) -> list[str]:
        """All experiment names, oldest first."""

    @abstractmethod
    def experiment_summaries(self) -> list[ExperimentRecord]:
        """Experiments, oldest first, with their top-level run counts and latest run time."""

    @abstractmethod
    def find_experiments(
        self,
        name: str | None = None,
        archived: bool | None = False,
        tags: Mapping[str, str | None] | None = None,
    ) -> list[ExperimentRecord]:
        """Experiments (oldest first, without run counts) matching every filter: ``name``;
        ``archived`` True/False (None: both); ``tags`` key -> value (None: any value)."""

    @abstractmethod
    def set_experiment_archived(self, name: str, archived: bool) -> None:
        """Archive an experiment (hidden from default listings, its runs kept) or undo it;
        an unknown name is an :class:`AmlError`."""

    @abstractmethod
    def set_experiment_tags(self, name: str, tags: Mapping[str, Any]) -> None:
        """Add or overwrite an experiment's tags (checked as run tags are: all or nothing)."""

    @abstractmethod
    def remove_experiment_tags(self, name: str, keys: Iterable[str]) -> None:
        """Delete an experiment's tags by key (unknown keys are ignored)."""

    @abstractmethod
    def experiment_tags(self, name: str) -> dict[str, str | None]:
        """All tags of an experiment."""

    # the workspace's own settings -----------------------------------------------------------
    @abstractmethod
    def workspace_settings(self) -> dict[str, str]:
        """What the workspace keeps about itself (``name``, ``subscription_id`` ... of a v1
        config.json; ``id``), by key."""

    @abstractmethod
    def set_workspace_settings(self, settings: Mapping[str, str], replace: bool = True) -> None:
        """Set settings; with ``replace=False`` a key that exists keeps its value."""

    # the key vault --------------------------------------------------------------------------
    @abstractmethod
    def set_secrets(self, secrets: Mapping[str, str]) -> None:
        """Keep secrets encrypted (never their plain text in the workspace), all or nothing;
        a name set again is replaced. Names as Key Vault's: 1-127 letters, digits, '-'."""

    @abstractmethod
    def get_secret(self, name: str) -> str | None:
        """A secret's value (None: no such secret); an :class:`AmlError` when it cannot be
        decrypted here (the key is not on this machine)."""

    @abstractmethod
    def secret_names(self) -> list[str]:
        """Every secret's name, sorted."""

    @abstractmethod
    def delete_secrets(self, names: Iterable[str]) -> None:
        """Forget secrets by name (unknown names are ignored)."""

    # runs -----------------------------------------------------------------------------------
    @abstractmethod
    def create_run(
        self,
        experiment: str,
        run_type: str,
        status: str,
        *,
        run_id: str | None = None,
        parent_id: str | None = None,
        target: str | None = None,
        definition: Mapping[str, Any] | None = None,
        display_name: str | None = None,
    ) -> str:
        """Add a run (its experiment too, when new) and return its id: ``run_id`` or a new
        ``<experiment>_<unix time>_<8 hex>``. An id in use is an error. Its owner process is
        recorded by its target (``update_run(pid=..., pid_started=..., host=...)``)."""

    @abstractmethod
    def delete_run(self, run_id: str) -> None:
        """Remove a run that never got going (a submit that failed before it started)."""

    @abstractmethod
    def get_run(self, run_id: str) -> RunRecord:
        """The run, or an :class:`AmlError` that says how to find run ids."""

    @abstractmethod
    def find_run_ids(self, prefix: str) -> list[str]:
        """Up to two run ids that start with ``prefix`` (a short id typed at a prompt)."""

    @abstractmethod
    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str | None] | None = None,
        properties: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        include_children: bool = False,
        run_type: str | None = None,
        text: str | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
        with_tags: bool = False,
    ) -> list[RunRecord]:
        """Runs matching every filter, newest first by default.

        ``tags``: key → value (None: any value). ``parent_id``: children of that run; else
        top-level runs unless ``include_children``. ``text``: a part of the run's id, name,
        experiment, script or a tag, in any case. ``sort``: one of :data:`SORT_KEYS`.
        ``with_tags``: each record carries its tags (read for the whole page at once).
        """

    @abstractmethod
    def count_runs(
        self,
        *,
        experiment: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str | None] | None = None,
        properties: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        include_children: bool = False,
        run_type: str | None = None,
        text: str | None = None,
    ) -> int:
        """How many runs :meth:`list_runs` would return with these filters and no limit."""

    @abstractmethod
    def update_run(
        self,
        run_id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        snapshot_id: str | None = None,
        error: Mapping[str, Any] | None = None,
        pid: int | None = None,
        pid_started: str | None = None,
        host: str | None = None,
        child_pid: int | None = None,
    ) -> None:
        """Set the given fields of a run (None: left as it is). Status has its own rules:
        :meth:`set_status`. ``pid``/``pid_started``/``host``: the process that owns the run;
        ``child_pid``: its script's process (group), as the run's target reports them."""

    @abstractmethod
    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: Mapping[str, Any] | None = None,
        exit_code: int | None = None,
    ) -> bool:
        """Move a run to ``status``; True when it moved.

        A run that has ended stays as it ended. ``CancelRequested`` stays until the run ends
        (a target still starting must not overwrite it). ``Running`` sets the start time, an
        end status the end time.
        """

    # tags and properties --------------------------------------------------------------------
    @abstractmethod
    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Add or overwrite tags (checked against :mod:`.limits` first: all or nothing)."""

    @abstractmethod
    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        """Delete tags by key (unknown keys are ignored)."""

    @abstractmethod
    def get_tags(self, run_id: str) -> dict[str, str | None]:
        """All tags of a run."""

    @abstractmethod
    def tags_of(
        self, run_ids: list[str], max_chars: int | None = None
    ) -> dict[str, dict[str, str | None]]:
        """``{run_id: {key: value}}`` for a page of runs (runs without tags are left out).

        ``max_chars``: longer values come cut to ``max_chars + 1`` characters (so the caller
        can tell they were cut).
        """

    @abstractmethod
    def add_properties(self, run_id: str, properties: Mapping[str, Any]) -> None:
        """Add properties; changing an existing one is an error (they are immutable)."""

    @abstractmethod
    def get_properties(self, run_id: str) -> dict[str, str]:
        """All properties of a run."""

    # files ----------------------------------------------------------------------------------
    @abstractmethod
    def add_files(self, run_id: str, files: Iterable[tuple[str, str, int]]) -> None:
        """Record run files as ``(name, sha256, size)``; a name added again is replaced."""

    @abstractmethod
    def list_files(self, run_id: str) -> list[FileRecord]:
        """The run's stored files, by name."""

    @abstractmethod
    def get_file(self, run_id: str, name: str) -> FileRecord | None:
        """One stored file of a run, or None."""

    # metric summaries -----------------------------------------------------------------------
    @abstractmethod
    def save_metric_summary(self, run_id: str, summary: Mapping[str, tuple[Any, int]]) -> None:
        """Keep ``{metric: (last value, count)}`` for listings and sorting (replaces the old)."""

    @abstractmethod
    def metric_summaries(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``{run_id: {metric: last value}}`` for runs that have a summary."""

    # environments ---------------------------------------------------------------------------
    @abstractmethod
    def register_environment(self, name: str, spec_hash: str, spec: Mapping[str, Any]) -> int:
        """Store an environment; its version (the latest one when the spec is unchanged)."""

    @abstractmethod
    def get_environment(self, name: str, version: int | None = None) -> EnvironmentRecord | None:
        """One version of a registered environment (the latest when ``version`` is None)."""

    @abstractmethod
    def label_environment(self, name: str, version: int, labels: list[str]) -> None:
        """Put ``labels`` on one version of an environment (each leaves any other version)."""

    @abstractmethod
    def environment_version_by_label(self, name: str, label: str) -> int | None:
        """The version of environment ``name`` that carries ``label``, or None."""

    @abstractmethod
    def environment_versions(self) -> list[tuple[str, int]]:
        """Every ``(name, version)`` registered, by name then version."""

    # snapshots ------------------------------------------------------------------------------
    @abstractmethod
    def add_snapshot(self, snapshot_id: str, file_count: int, size: int) -> None:
        """Remember a snapshot manifest that is now among the blobs."""

    @abstractmethod
    def cached_hashes(self, paths: list[str]) -> dict[str, FileHashRecord]:
        """Known content hashes of local files, by absolute path."""

    @abstractmethod
    def cache_hashes(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        """Remember ``(path, size, mtime_ns, inode, sha256)`` so unchanged files are not re-read."""

    # compute targets ------------------------------------------------------------------------
    @abstractmethod
    def compute_targets(self) -> list[ComputeTargetRecord]:
        """Registered compute targets by name (``local`` is always there)."""

    @abstractmethod
    def attach_compute_target(self, name: str, kind: str, config: Mapping[str, Any]) -> None:
        """Add or replace a compute target."""

    @abstractmethod
    def detach_compute_target(self, name: str) -> bool:
        """Forget a compute target; True when there was one."""

    # models ---------------------------------------------------------------------------------
    @abstractmethod
    def add_model(
        self,
        name: str,
        *,
        manifest: str,
        path: str,
        is_folder: bool,
        size: int,
        file_count: int,
        description: str | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        run_id: str | None = None,
        experiment: str | None = None,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> int:
        """Register the next version of model ``name`` (1 for a new name); its version."""

    @abstractmethod
    def get_model(self, name: str, version: int | None = None) -> ModelRecord | None:
        """One version (the latest when ``version`` is None), or None."""

    @abstractmethod
    def find_models(
        self,
        name: str | None = None,
        tags: Iterable[tuple[str, str | None]] = (),
        properties: Iterable[tuple[str, str]] = (),
        run_id: str | None = None,
        latest: bool = False,
    ) -> list[ModelRecord]:
        """Versions matching every filter (a tag value of None: any value), newest first;
        ``latest``: only the latest version of each name."""

    @abstractmethod
    def model_tags(self, name: str, version: int) -> dict[str, str | None]:
        """The tags of one model version, by key."""

    @abstractmethod
    def model_properties(self, name: str, version: int) -> dict[str, str]:
        """The properties of one model version, by key."""

    @abstractmethod
    def set_model_tags(self, name: str, version: int, tags: Mapping[str, Any]) -> None:
        """Add or overwrite tags of a model version."""

    @abstractmethod
    def remove_model_tags(self, name: str, version: int, keys: Iterable[str]) -> None:
        """Delete tags of a model version by key."""

    @abstractmethod
    def add_model_properties(self, name: str, version: int, properties: Mapping[str, Any]) -> None:
        """Add properties; a key that exists keeps its value (write-once, as in v1)."""

    @abstractmethod
    def set_model_description(self, name: str, version: int, description: str | None) -> None:
        """Replace the description of a model version."""

    @abstractmethod
    def delete_model(self, name: str, version: int) -> None:
        """Forget one model version (its files stay among the blobs)."""

    # a run's live folder and streams ---------------------------------------------------------
    @abstractmethod
    def run_folder(self, run_id: str) -> RunFolder:
        """Where the run's target writes on this machine while the run goes: its logs, metric
        files, heartbeat, working folder (:class:`.run_folder.RunFolder`). Readers use the
        methods below, which also serve a run whose folder is elsewhere."""

    @abstractmethod
    def read_log(
        self, run_id: str, offset: int = 0, max_bytes: int | None = None, name: str | None = None
    ) -> bytes:
        """Bytes of a run's log from byte ``offset`` on (at most ``max_bytes``); ``b""`` when
        there is none yet. ``name``: a log among the run's files (default: the driver log)."""

    @abstractmethod
    def log_size(self, run_id: str, name: str | None = None) -> int | None:
        """How many bytes a run's log has (default: the driver log); None: not written yet."""

    @abstractmethod
    def metric_writer(self, run_id: str) -> MetricWriter:
        """What a run's own process logs its metrics through (one per process)."""

    @abstractmethod
    def read_metrics(self, run_id: str, name: str | None = None) -> dict[str, Any]:
        """A run's metrics as v1's ``get_metrics`` returns them (``name``: only that one)."""

    @abstractmethod
    def metric_history(self, run_id: str, name: str) -> list[dict[str, Any]]:
        """Every value of one scalar metric with its step and time, oldest first."""

    @abstractmethod
    def metric_points(self, run_id: str, cursor: str | None = None) -> tuple[list[Point], str]:
        """Metric points logged since ``cursor`` (None: all), oldest first, and the cursor to
        ask from next time: what live views poll."""

    @abstractmethod
    def metric_columns(self, run_id: str, name: str | None = None) -> MetricColumns | None:
        """An ended run's metrics (only ``name``'s when given) as columns per metric, with the
        cursor past them, straight from what ending the run indexed; None where that is not
        there (a live run): then :meth:`metric_points` gives the same points."""

    @abstractmethod
    def live_metric_values(self, run_id: str) -> dict[str, Any]:
        """The last value of each scalar metric of a run still going (cheap: file tails)."""

    @abstractmethod
    def summarize_metrics(self, run_id: str, *, final: bool) -> None:
        """Save a run's metric summary (:meth:`save_metric_summary`) from what it logged.

        ``final``: the run has ended normally; its metrics are also indexed for fast reads.
        Otherwise (a run whose owner died, summarized inside someone else's read) only
        bounded work is done: a big run's summary comes from its files' tails."""

    @abstractmethod
    def live_files(self, run_id: str) -> dict[str, int]:
        """Files of a run not (yet) among its stored files, by name, with their sizes: the
        logs, and a run still going's ``outputs/`` and ``logs/``. Links are never listed."""

    @abstractmethod
    def open_live_file(self, run_id: str, name: str) -> BinaryIO:
        """One of :meth:`live_files`, opened for binary reading (never through a link)."""

    # services -------------------------------------------------------------------------------
    @abstractmethod
    def add_service(self, name: str, spec: Mapping[str, Any]) -> ServiceRecord:
        """Record a deployed service; a name in use is an :class:`AmlError` (replacing one
        is deleting it first, as ``deploy(overwrite=True)`` does)."""

    @abstractmethod
    def get_service(self, name: str) -> ServiceRecord | None:
        """One service, or None."""

    @abstractmethod
    def list_services(self) -> list[ServiceRecord]:
        """Every service, by name."""

    @abstractmethod
    def update_service(self, name: str, spec: Mapping[str, Any]) -> ServiceRecord:
        """Replace a service's spec; an unknown name is an :class:`AmlError`."""

    @abstractmethod
    def delete_service(self, name: str) -> None:
        """Forget a service and remove its folder (an unknown name is fine). Its processes
        must have been stopped: the store never signals them."""

    @abstractmethod
    def service_folder(self, name: str) -> ServiceFolder:
        """The live folder of a service on this machine (pid, ready flag, log, statistics,
        its copies of models and source): :class:`.service_folder.ServiceFolder`."""

    # datastores -----------------------------------------------------------------------------
    @abstractmethod
    def add_datastore(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, str] | None = None,
        credentials_secret: str | None = None,
        overwrite: bool = False,
    ) -> DatastoreRecord:
        """Register a datastore, its ``credentials`` (if any) kept encrypted as the secret
        ``credentials_secret``, all in one transaction; a name in use is an :class:`AmlError`
        unless ``overwrite`` (then the old record and its secret are replaced)."""

    @abstractmethod
    def get_datastore(self, name: str) -> DatastoreRecord | None:
        """One registered datastore, or None."""

    @abstractmethod
    def list_datastores(self) -> list[DatastoreRecord]:
        """Every registered datastore, by name."""

    @abstractmethod
    def datastore_credentials(self, name: str) -> dict[str, str]:
        """A datastore's credentials, decrypted ({} when it has none)."""

    @abstractmethod
    def delete_datastore(self, name: str) -> None:
        """Forget a datastore and its credentials (unknown: fine); no longer the default."""

    @abstractmethod
    def set_default_datastore(self, name: str | None) -> None:
        """Make ``name`` the default datastore (None: back to ``workspaceblobstore``)."""

    @abstractmethod
    def default_datastore_name(self) -> str | None:
        """The default datastore's name, None when never set."""

    # datasets -------------------------------------------------------------------------------
    @abstractmethod
    def add_dataset(
        self,
        name: str,
        kind: str,
        definition: Mapping[str, Any],
        files: list[tuple[str, int, str]],
        *,
        fingerprint: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        create_new_version: bool = False,
    ) -> tuple[DatasetRecord, bool]:
        """Register a dataset version with its files ``(path, size, sha256)``, all at once or
        nothing, and say whether it is new. The latest version with the same definition and
        fingerprint is returned as it is; otherwise an existing name needs
        ``create_new_version`` and the same ``kind`` (else an :class:`AmlError`)."""

    @abstractmethod
    def get_dataset(self, name: str, version: int | None = None) -> DatasetRecord | None:
        """One version (None: the latest) with its tags, or None."""

    @abstractmethod
    def get_dataset_by_id(self, dataset_id: str) -> DatasetRecord | None:
        """The version with this id, with its tags, or None."""

    @abstractmethod
    def dataset_versions(self, name: str) -> list[int]:
        """The registered versions of ``name``, oldest first (empty: no such dataset)."""

    @abstractmethod
    def list_datasets(self) -> list[DatasetRecord]:
        """The latest version of every registered dataset, by name, with tags (not the saved
        ones a run used unregistered: names starting with ``_``)."""

    @abstractmethod
    def dataset_files(self, dataset_id: str) -> list[DatasetFileRecord]:
        """The files a version was registered with, by path."""

    @abstractmethod
    def set_dataset_tags(self, dataset_id: str, tags: Mapping[str, Any]) -> None:
        """Add or replace tags of one version."""

    @abstractmethod
    def remove_dataset_tags(self, dataset_id: str, keys: Iterable[str]) -> None:
        """Remove tags of one version (unknown keys are fine)."""

    @abstractmethod
    def set_dataset_description(self, dataset_id: str, description: str | None) -> None:
        """Replace one version's description."""

    @abstractmethod
    def delete_dataset(self, name: str) -> int:
        """Forget every version of ``name`` (lineage records stay); how many there were."""

    @abstractmethod
    def add_run_datasets(self, run_id: str, direction: str, datasets: Mapping[str, str]) -> None:
        """Record that a run read (``input``) or wrote (``output``) datasets, ``{name used
        in the run: dataset id}``; a name already recorded for the run is replaced."""

    @abstractmethod
    def run_datasets(self, run_id: str) -> list[RunDatasetRecord]:
        """The datasets a run read and wrote, inputs first, by name."""

    @abstractmethod
    def dataset_lineage(self, dataset_id: str) -> list[RunDatasetRecord]:
        """The runs that read or wrote a dataset version."""

    # the connection -------------------------------------------------------------------------
    @abstractmethod
    def close(self) -> None:
        """Let go of the backend (connections, handles); the object is unusable after."""

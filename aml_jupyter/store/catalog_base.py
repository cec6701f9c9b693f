"""The workspace store interface, its catalogue half: what a workspace registers by name
(environments, compute targets, models, services, datastores, datasets, and which runs read
or wrote a dataset). :class:`.base.WorkspaceStore` is the whole interface; this part lives
apart so neither file grows past reading."""

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
    ModelRecord,
    RunDatasetRecord,
    ServiceRecord,
)

if TYPE_CHECKING:
    from .service_folder import ServiceFolder


class CatalogStore(ABC):
    """What a workspace keeps by name (see the module's docstring)."""

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

    @abstractmethod
    def dataset_run_counts(self, dataset_ids: Iterable[str]) -> dict[str, int]:
        """How many runs read or wrote each of ``dataset_ids`` (a run that did both, or used
        one version under two names, counts once), 0 for one no run used: one query for them
        all, so a listing of every dataset asks once, not once a dataset."""

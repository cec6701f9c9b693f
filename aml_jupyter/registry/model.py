"""The model registry: ``Model`` with Azure ML v1's names.

A model is a file or a folder, registered under a name; each registration of a name adds a
version (1, 2, ...). Its files live in the workspace's content-addressed blob store (a model
registered from a run's ``./outputs`` costs no copy at all), described by a manifest. A version
keeps its lineage (run, experiment, git commit), tags, write-once properties, a description
and the framework it was made with::

    model = run.register_model("iris", "outputs/model.joblib", model_framework="ScikitLearn")
    Model(ws, "iris").download("here")            # the latest version
    Model.list(ws, tags=[["stage", "prod"]], latest=True)
    Model.get_model_path("iris")                  # a local path to load (in a service: its copy)
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..paths import checked_relative_name
from .model_datasets import model_datasets, with_datasets
from .model_files import add_version, local_manifest, run_manifest, write_files
from .model_lookup import (
    find_version,
    property_filters,
    service_model_path,
    split_id,
    tag_filters,
)
from .names import check_name as _check_name

if TYPE_CHECKING:
    from ..store.types import ModelRecord
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace


class Model:
    """One registered version of a model: ``Model(ws, name, version=None)`` (None: latest)."""

    def __init__(
        self,
        workspace: Workspace,
        name: str | None = None,
        id: str | None = None,  # v1's keyword
        tags: Any = None,
        properties: Any = None,
        version: int | str | None = None,
        run_id: str | None = None,
        model_framework: str | None = None,
        expand: bool = True,
        **_: Any,
    ) -> None:
        if id is not None:
            if ":" not in str(id):
                raise AmlError(f"A model id is 'name:version', got {id!r}.")
            name, number = split_id(str(id), None)
        elif name is None:
            raise AmlError("Model(ws, name) needs a name (or id='name:version').")
        else:
            name, number = split_id(name, version)
        row = find_version(workspace.store, name, number, tags, properties, run_id, model_framework)
        self.workspace = workspace
        self._load(row)

    def _load(self, row: ModelRecord) -> None:
        self.name: str = row.name
        self.version: int = row.version
        self.description: str | None = row.description
        self.model_framework: str | None = row.framework
        self.model_framework_version: str | None = row.framework_version
        self.run_id: str | None = row.run_id
        self.experiment_name: str | None = row.experiment
        self.created_time = datetime.fromtimestamp(row.created_utc, tz=timezone.utc)
        self.size: int = row.size
        self._row = row

    @property
    def id(self) -> str:
        """``name:version``, as v1."""
        return f"{self.name}:{self.version}"

    @property
    def url(self) -> str:
        """Where the model's files are, as v1's ``url``: an ``aml://`` address of this
        version in this workspace (``Model.get_model_path`` gives a local path to load)."""
        return f"aml://models/{self.name}/versions/{self.version}/{self._row.path}"

    @property
    def created_by(self) -> dict[str, str | None]:
        """Who registered it, in v1's keys: a local workspace has one user, the owner of its
        folder (``userName``); the Azure identity fields are None."""
        import pwd

        try:
            user: str | None = pwd.getpwuid(self.workspace.folder.stat().st_uid).pw_name
        except (KeyError, OSError):
            user = None
        return {"userName": user, "userObjectId": None, "userTenantId": None}

    @property
    def tags(self) -> dict[str, str | None]:
        return self.workspace.store.model_tags(self.name, self.version)

    @property
    def properties(self) -> dict[str, str]:
        return self.workspace.store.model_properties(self.name, self.version)

    @property
    def datasets(self) -> dict[str, list[Any]]:
        """v1's ``{scenario: [dataset, ...]}``: the datasets given at registration
        (``datasets=[('training', ds)]``), each the version it was then."""
        return model_datasets(self.workspace, self.properties)

    @property
    def run(self) -> Run | None:
        """The run that made it (None when registered from a local path)."""
        return self.workspace.get_run(self.run_id) if self.run_id else None

    def _files(self) -> list[list[Any]]:
        """The manifest: ``[relative path, sha256, size]`` per file."""
        return list(json.loads(self.workspace.blobs.read_bytes(self._row.manifest)))

    # registering -----------------------------------------------------------------------------
    @staticmethod
    def register(
        workspace: Workspace,
        model_path: str | os.PathLike[str],
        model_name: str,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        datasets: Any = None,
        model_framework: str | None = None,
        model_framework_version: str | None = None,
        child_paths: Any = None,
        sample_input_dataset: Any = None,
        sample_output_dataset: Any = None,
        resource_configuration: Any = None,
    ) -> Model:
        """Register a local file or folder as the next version of ``model_name``."""
        _check_name(model_name)
        path = Path(model_path).expanduser()
        if not path.exists():
            raise AmlError(f"model_path {str(model_path)!r} does not exist.")
        properties = with_datasets(workspace, properties, datasets)
        entries = local_manifest(workspace.blobs, path, model_path)
        version = add_version(
            workspace,
            model_name,
            entries,
            path.name,
            path.is_dir(),
            tags,
            properties,
            description,
            model_framework,
            model_framework_version,
            run=None,
        )
        return Model(workspace, model_name, version=version)

    @staticmethod
    def _from_run(
        run: Run,
        model_name: str,
        model_path: str,
        tags: dict[str, Any] | None,
        properties: dict[str, Any] | None,
        description: str | None,
        model_framework: str | None,
        model_framework_version: str | None,
        datasets: Any = None,
    ) -> Model:
        """``run.register_model``: a file or folder among the run's stored files (no copy)."""
        _check_name(model_name)
        properties = with_datasets(run._ws, properties, datasets)
        clean = checked_relative_name(model_path, "model_path").rstrip("/")
        entries, is_folder = run_manifest(run, clean)
        version = add_version(
            run._ws,
            model_name,
            entries,
            clean.rsplit("/", 1)[-1],
            is_folder,
            tags,
            properties,
            description,
            model_framework,
            model_framework_version,
            run=run,
        )
        return Model(run._ws, model_name, version=version)

    # finding ---------------------------------------------------------------------------------
    @staticmethod
    def list(
        workspace: Workspace,
        name: str | None = None,
        tags: Any = None,
        properties: Any = None,
        run_id: str | None = None,
        latest: bool = False,
        **_: Any,
    ) -> list[Model]:
        """Registered versions matching every filter, newest first; ``latest``: one per name.

        ``tags=["stage", ["team", "vision"]]``: has tag ``stage``, and ``team`` = ``vision``.
        """
        rows = workspace.store.find_models(
            name, tag_filters(tags), property_filters(properties), run_id, latest
        )
        models = []
        for row in rows:
            model = Model.__new__(Model)
            model.workspace = workspace
            model._load(row)
            models.append(model)
        return models

    @staticmethod
    def get_model_path(
        model_name: str, version: int | None = None, _workspace: Workspace | None = None
    ) -> str:
        """A local path to the model's file or folder.

        Inside a scoring service (``AZUREML_MODEL_DIR`` set) it is the service's own copy, as
        in v1; elsewhere the model is unpacked once into the workspace's model cache.
        """
        service_dir = os.environ.get("AZUREML_MODEL_DIR")
        if service_dir:
            found = service_model_path(Path(service_dir), model_name, version)
            if found is None:
                raise AmlError(
                    f"Model {model_name!r}"
                    + (f" version {version}" if version else "")
                    + f" is not among this service's models ({service_dir})."
                )
            return str(found)
        from ..tracking.workspace import Workspace

        ws = _workspace or Workspace.from_config()
        model = Model(ws, model_name, version=version)
        return str(model._cached_copy())

    def _cached_copy(self) -> Path:
        """The model unpacked under ``<workspace>/models/<name>/<version>/`` (once)."""
        home = self.workspace.folder / "models" / self.name / str(self.version)
        target = home / self._row.path
        if not home.exists():
            staging = home.with_name(f".{self.version}.incoming")
            shutil.rmtree(staging, ignore_errors=True)
            self._write(staging / self._row.path)
            staging.rename(home)
        return target

    # reading ---------------------------------------------------------------------------------
    def download(
        self,
        target_dir: str | os.PathLike[str] = ".",
        exist_ok: bool = False,
        exists_ok: Any = None,
    ) -> str:
        """Copy the model's file or folder into ``target_dir``; returns its path there."""
        if exists_ok is not None:  # v1's old spelling
            exist_ok = bool(exists_ok)
        target = Path(target_dir).expanduser() / self._row.path
        if target.exists() and not exist_ok:
            raise AmlError(
                f"{str(target)!r} exists already; pass exist_ok=True to overwrite it, or "
                "download into another folder."
            )
        self._write(target)
        return str(target)

    def _write(self, target: Path) -> None:
        write_files(self.workspace.blobs, self._files(), self._row.is_folder, target)

    def get_file_names(self) -> builtins.list[str]:
        """The model's files, relative to its folder (or its one file name)."""
        return [rel for rel, _, _ in self._files()]

    # changing --------------------------------------------------------------------------------
    def add_tags(self, tags: dict[str, Any]) -> None:
        """Add or overwrite tags."""
        if not isinstance(tags, dict):
            raise AmlError(f"tags must be a dict, got {type(tags).__name__}.")
        self.workspace.store.set_model_tags(self.name, self.version, tags)

    def remove_tags(self, tags: builtins.list[str] | str) -> None:
        """Remove tags by key."""
        keys = [tags] if isinstance(tags, str) else list(tags)
        self.workspace.store.remove_model_tags(self.name, self.version, keys)

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add properties; a key that exists keeps its value (write-once, as v1)."""
        if not isinstance(properties, dict):
            raise AmlError(f"properties must be a dict, got {type(properties).__name__}.")
        self.workspace.store.add_model_properties(self.name, self.version, properties)

    def update(
        self,
        tags: dict[str, Any] | None = None,
        description: str | None = None,
        **_: Any,
    ) -> None:
        """Replace the tags (when given) and the description (when given)."""
        registry = self.workspace.store
        if tags is not None:
            if not isinstance(tags, dict):
                raise AmlError(f"tags must be a dict, got {type(tags).__name__}.")
            registry.remove_model_tags(self.name, self.version, list(self.tags))
            registry.set_model_tags(self.name, self.version, tags)
        if description is not None:
            registry.set_model_description(self.name, self.version, description)
            self.description = description

    def delete(self) -> None:
        """Remove this version from the registry (its files stay in the blob store while
        another version or run uses them). Refused while a running service serves it."""
        from .webservice import services_using

        using = services_using(self.workspace, self.id)
        if using:
            raise AmlError(
                f"Model {self.id} is served by running service(s) {', '.join(using)}: delete "
                "those first (service.delete() or `aml service delete NAME`)."
            )
        self.workspace.store.delete_model(self.name, self.version)
        shutil.rmtree(
            self.workspace.folder / "models" / self.name / str(self.version), ignore_errors=True
        )

    @staticmethod
    def deploy(
        workspace: Workspace,
        name: str,
        models: builtins.list[Model],
        inference_config: Any = None,
        deployment_config: Any = None,
        deployment_target: Any = None,
        overwrite: bool = False,
        show_output: bool = False,
    ) -> Any:
        """Start a local scoring service for ``models``; returns it once it answers its health
        route (see :mod:`aml_jupyter.registry.deployment`)."""
        from .deployment import deploy

        if not models or not all(isinstance(m, Model) for m in models):
            raise AmlError("models must be a non-empty list of Model objects (Model(ws, name)).")
        service = deploy(workspace, name, models, inference_config, deployment_config, overwrite)
        if show_output:
            print(f"Service {name!r} is Healthy at {service.scoring_uri}")
        return service

    def serialize(self) -> dict[str, Any]:
        """Everything about this version, JSON-ready (v1's ``serialize``)."""
        return {
            "id": self.id,
            "name": self.name,
            "version": self.version,
            "description": self.description,
            "framework": self.model_framework,
            "frameworkVersion": self.model_framework_version,
            "runId": self.run_id,
            "experimentName": self.experiment_name,
            "createdTime": self.created_time.isoformat(),
            "createdBy": self.created_by,
            "url": self.url,
            "path": self._row.path,
            "isFolder": self._row.is_folder,
            "size": self.size,
            "fileCount": self._row.file_count,
            "tags": self.tags,
            "properties": self.properties,
        }

    def __repr__(self) -> str:
        return f"Model(workspace={self.workspace!r}, name={self.name!r}, version={self.version})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Model) and (self.workspace, self.id) == (other.workspace, other.id)

    def __hash__(self) -> int:
        return hash(self.id)


__all__ = ["Model"]

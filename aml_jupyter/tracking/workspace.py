"""The workspace: one folder (``.aml/``) holding every experiment, run and file, kept by the
store its address picks (:func:`aml_jupyter.store.open_store`; the folder's layout is the
embedded store's business)."""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..store import WorkspaceStore, create_store, is_server_address, open_store
from .v1_config import CONFIG_NAME, find_v1_config_here, read_v1_config
from .workspace_v1 import WorkspaceV1, open_for_v1_config

if TYPE_CHECKING:
    from ..compute import ComputeTarget
    from .experiment import Experiment

FOLDER_NAME = ".aml"
DB_NAME = "aml.db"
ENV_VAR = "AML_WORKSPACE"

_open_lock = threading.Lock()
_open: dict[Path, Workspace] = {}


def _workspace_folder(path: str | os.PathLike[str]) -> Path:
    """``path`` itself if it is (or is named like) a workspace folder, else ``path/.aml``."""
    try:
        p = Path(path).expanduser().resolve()
    except RuntimeError:  # "~someone" with no such user (pathlib's error for it)
        raise AmlError(f"{str(path)!r}: no such user's home folder; give a path.") from None
    if p.name == FOLDER_NAME or (p / DB_NAME).exists():
        return p
    return p / FOLDER_NAME


class Workspace(WorkspaceV1):
    """A local workspace. Get one with :meth:`create`, :meth:`from_config` or :meth:`get`.

    Mirrors Azure ML v1's ``Workspace``: ``experiments`` and ``compute_targets`` are dicts by
    name; ``name``, ``subscription_id``, ``resource_group``, ``location``, ``write_config``
    and ``get_details`` are in :class:`~.workspace_v1.WorkspaceV1`. One object per folder and
    process is shared (``Workspace(path)`` returns it).
    """

    def __new__(cls, path: str | os.PathLike[str]) -> Workspace:
        if is_server_address(path):
            open_store(path)  # says that a team workspace server cannot be opened yet
        folder = _workspace_folder(path)
        with _open_lock:
            ws = _open.get(folder)
            if ws is not None and not ws._database_is_current():
                # The folder was deleted (or replaced) since: drop the connection to the old file.
                ws.store.close()
                del _open[folder]
                ws = None
            if ws is None:
                if not (folder / DB_NAME).exists():
                    raise AmlError(
                        f"No workspace at {folder}. Create one with Workspace.create("
                        f"{str(folder.parent)!r}) or `aml workspace create`."
                    )
                ws = super().__new__(cls)
                ws._init(folder)
                _open[folder] = ws
            return ws

    def _init(self, folder: Path) -> None:
        self.folder = folder
        #: Where everything about the workspace is kept (see :class:`WorkspaceStore`).
        self.store: WorkspaceStore = open_store(folder)
        self.blobs = self.store.blobs
        self._db_identity = self._database_identity()

    def _database_identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.folder / DB_NAME)
        except FileNotFoundError:
            return None
        return (st.st_dev, st.st_ino)

    def _database_is_current(self) -> bool:
        """False once ``aml.db`` was deleted or replaced under this (cached) object."""
        return self._db_identity is not None and self._database_identity() == self._db_identity

    def __getnewargs__(self) -> tuple[str]:
        return (str(self.folder),)

    # ways in ------------------------------------------------------------------------------
    @staticmethod
    def create(
        path: str | os.PathLike[str] = ".",
        exist_ok: bool = True,
        *,
        name: str | None = None,
        subscription_id: str | None = None,
        resource_group: str | None = None,
        location: str | None = None,
        **kwargs: Any,
    ) -> Workspace:
        """Create a workspace in ``path/.aml`` (or at ``path`` if it ends in ``.aml``).

        With ``exist_ok=False`` an existing workspace there is an error. v1's form works too:
        ``Workspace.create(name='ws', subscription_id=..., resource_group=..., location=...)``
        makes ``./ws/.aml`` and keeps those values (``ws.subscription_id`` ...); v1's other
        arguments (``auth``, ``sku``, ``create_resource_group`` ...) are accepted and ignored.
        """
        if name is not None and path == ".":
            path = name
        if is_server_address(path):
            open_store(path)  # says that a team workspace server cannot be opened yet
        folder = _workspace_folder(path)
        if (folder / DB_NAME).exists():
            if not exist_ok:
                raise AmlError(f"A workspace exists already at {folder} (pass exist_ok=True).")
        else:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / ".gitignore").write_text("# aml_jupyter workspace: not source code\n*\n")
            create_store(folder)
        ws = Workspace(folder)
        given = {"name": name, "subscription_id": subscription_id, "resource_group": resource_group}
        given["location"] = location
        if any(given.values()):
            ws._set_settings({k: v for k, v in given.items() if v})
        return ws

    @staticmethod
    def find(path: str | os.PathLike[str] | None = None) -> Path | None:
        """The workspace folder ``from_config`` would open, or None (``$AML_WORKSPACE`` first)."""
        env = os.environ.get(ENV_VAR)
        if env and path is None:
            return _workspace_folder(env)
        start = Path(path or os.getcwd()).expanduser().resolve()
        for folder in (start, *start.parents):
            candidate = _workspace_folder(folder)
            if (candidate / DB_NAME).exists():
                return candidate
        return None

    @staticmethod
    def from_config(
        path: str | os.PathLike[str] | None = None,
        auth: Any = None,
        _file_name: str | None = None,
        **kwargs: Any,
    ) -> Workspace:
        """Open the workspace of ``path`` (default: here) or its nearest parent that has one.

        In each folder, nearest first: a ``.aml/`` workspace, or v1's ``config.json`` (also in
        ``.azureml/`` or ``aml_config/``; ``_file_name`` names it otherwise), which opens the
        local workspace of that v1 project, ``<project folder>/.aml``, created (saying so in
        one line) the first time: a v1 project folder works as it is. ``path`` may also be a
        config file. ``$AML_WORKSPACE`` (a folder) overrides the search when no ``path`` is
        given. ``auth`` is accepted and ignored so v1 code runs unchanged.
        """
        found = Workspace._locate(path, _file_name or CONFIG_NAME)
        if found is None:
            raise AmlError(
                f"No .aml workspace or v1 {_file_name or CONFIG_NAME} in {path or os.getcwd()} "
                "or its parents. Create one with Workspace.create('.') or `aml workspace "
                "create`, put your v1 project's config.json here, or set AML_WORKSPACE."
            )
        return found[0]

    @staticmethod
    def _locate(
        path: str | os.PathLike[str] | None, config_name: str
    ) -> tuple[Workspace, bool] | None:
        """What :meth:`from_config` opens and whether it was created, or None: nothing."""
        env = os.environ.get(ENV_VAR)
        if env and path is None:
            return Workspace(_workspace_folder(env)), False
        start = Path(path or os.getcwd()).expanduser().resolve()
        if start.is_file():
            return open_for_v1_config(read_v1_config(start))
        for folder in (start, *start.parents):
            candidate = _workspace_folder(folder)
            if candidate == folder and (candidate / DB_NAME).exists():
                return Workspace(candidate), False  # the search started inside a workspace
            config = find_v1_config_here(folder, config_name)
            if config is not None:
                return open_for_v1_config(read_v1_config(config))
            if (candidate / DB_NAME).exists():
                return Workspace(candidate), False
        return None

    @staticmethod
    def from_config_or_create(path: str | os.PathLike[str] | None = None) -> tuple[Workspace, bool]:
        """The workspace ``from_config`` finds (a v1 config.json's too), or a new ``./.aml``;
        second item: created."""
        found = Workspace._locate(path, CONFIG_NAME)
        return found if found is not None else (Workspace.create(path or "."), True)

    # what it holds ------------------------------------------------------------------------
    @property
    def experiments(self) -> dict[str, Experiment]:
        """Every experiment that is not archived, by name (as v1)."""
        from .experiment import Experiment

        return {
            r.name: Experiment(self, r.name, _check_name=False)
            for r in self.store.find_experiments()
        }

    @property
    def environments(self) -> dict[str, Any]:
        """The latest version of every registered environment, by name."""
        from ..environments.environment import Environment

        return Environment.list(self)

    @property
    def models(self) -> dict[str, Any]:
        """The latest version of every registered model, by name (v1's ``ws.models``)."""
        from . import plugins  # the registry is a higher layer (see tracking.plugins)

        return {m.name: m for m in plugins.load("model").list(self, latest=True)}

    @property
    def datasets(self) -> dict[str, Any]:
        """The latest version of every registered dataset, by name (v1's ``ws.datasets``)."""
        from . import plugins  # data is a higher layer (see tracking.plugins)

        return plugins.load("dataset").get_all(self)

    @property
    def compute_targets(self) -> dict[str, ComputeTarget]:
        """Every compute target, by name (``local`` is always there)."""
        from . import plugins  # compute is a higher layer (see tracking.plugins)

        target = plugins.load("compute_target")
        return {r.name: target._from_record(self, r) for r in self.store.compute_targets()}

    def get_run(self, run_id: str) -> Any:
        """The run with this id (a unique prefix of it is enough)."""
        from .run import Run

        return Run.get(self, run_id)

    def get_mlflow_tracking_uri(self) -> str:
        """The MLflow tracking URI of this workspace (``aml:///<folder>``), for use outside runs.

        ``mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri())`` then ``mlflow.start_run()``
        records into a run of this workspace, in the experiment ``mlflow.set_experiment``
        named (needs ``pip install 'aml-jupyter[mlflow]'``). Inside a run nothing is needed:
        every run gets ``MLFLOW_TRACKING_URI`` and ``MLFLOW_RUN_ID``.
        """
        from urllib.parse import quote

        return "aml://" + quote(self.folder.as_posix())

    def __repr__(self) -> str:
        return f"Workspace(name={self.name!r}, path={str(self.folder)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Workspace) and other.folder == self.folder

    def __hash__(self) -> int:
        return hash(self.folder)

"""``Environment``: the Python a run uses, by v1's names, registered and versioned in the workspace.

A managed environment (the default) lists packages, or keeps a requirements file as it is
(``requirements.py``); the target builds it once per content hash into a cached virtualenv
(``build.py``) or a docker image (``docker_image.py``). A user-managed one names an
interpreter that is used as it is (v1's default ``python``: the submitting Python). Its
``python`` and ``docker`` sections are in ``environment_sections.py``.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .conda_dependencies import CondaDependencies
from .environment_sections import DockerSection, PythonSection

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: v1's name for the environment a run gets when none is given.
DEFAULT_NAME = "default-environment"


class Environment:
    """The Python a run uses: ``Environment(name)`` then set ``python``, ``docker``,
    ``environment_variables``; ``register(ws)`` stores a version of it."""

    def __init__(self, name: str) -> None:
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise AmlError(f"An environment needs a name (1-255 characters), got {name!r}.")
        self.name = name.strip()
        self.version: str | None = None
        self.python = PythonSection()
        self.docker = DockerSection()
        self.environment_variables: dict[str, str] = {}
        #: v1 sections kept as read from a file (spark, databricks, r, ...), written back.
        self._kept_sections: dict[str, Any] = {}
        self._labels: list[str] = []

    # making one ------------------------------------------------------------------------------
    @staticmethod
    def from_pip_requirements(
        name: str, file_path: str | os.PathLike[str], pip_version: str | None = None
    ) -> Environment:
        """An environment that installs a ``requirements.txt`` as pip would: uv reads it.

        The file and the files it includes (``-r``/``-c``) are kept in the environment, so its
        hash follows their content and it builds the same after they change or on another
        machine. Relative paths in the file (``-e .``, ``./pkg``) are relative to its folder.
        """
        from . import requirements

        env = Environment(name)
        env.python.conda_dependencies._requirements = requirements.read(file_path)
        return env

    @staticmethod
    def from_conda_specification(name: str, file_path: str | os.PathLike[str]) -> Environment:
        """An environment from a conda ``environment.yml``: its Python version and its ``pip:``
        packages are installed; other conda packages are tried from PyPI."""
        env = Environment(name)
        env.python.conda_dependencies = CondaDependencies._from_yaml(
            _read(file_path), os.fspath(file_path)
        )
        return env

    @staticmethod
    def from_docker_image(
        name: str,
        image: str,
        container_registry: Any = None,
        conda_specification: str | os.PathLike[str] | None = None,
        pip_requirements: str | os.PathLike[str] | None = None,
    ) -> Environment:
        """An environment that runs in a container of ``image``, with the packages of a conda
        ``environment.yml`` and/or a ``requirements.txt`` added to it (none: the image's
        Python as it is). ``container_registry`` is accepted; images come from this engine."""
        env = Environment(name)
        env.docker.enabled = True
        env.docker.base_image = image
        env._add_specifications(conda_specification, pip_requirements)
        return env

    @staticmethod
    def from_dockerfile(
        name: str,
        dockerfile: str | os.PathLike[str],
        conda_specification: str | os.PathLike[str] | None = None,
        pip_requirements: str | os.PathLike[str] | None = None,
    ) -> Environment:
        """An environment whose base image is built from ``dockerfile`` (its text, or the path
        of a file), once per content, then run as :meth:`from_docker_image`'s is."""
        text = str(dockerfile)
        path = Path(text).expanduser()
        if "\n" not in text and len(text) < 4096 and path.is_file():
            text = path.read_text(encoding="utf-8")
        if not any(line.strip().upper().startswith("FROM") for line in text.splitlines()):
            raise AmlError(
                f"from_dockerfile({name!r}, ...): the Dockerfile has no FROM line. Give its text "
                "or the path of the file."
            )
        env = Environment(name)
        env.docker.enabled = True
        env.docker.base_dockerfile = text
        env._add_specifications(conda_specification, pip_requirements)
        return env

    def _add_specifications(
        self,
        conda_specification: str | os.PathLike[str] | None,
        pip_requirements: str | os.PathLike[str] | None,
    ) -> None:
        from . import requirements

        if conda_specification is None and pip_requirements is None:
            self.python.user_managed_dependencies = True  # the image's Python, as it is
            return
        if conda_specification is not None:
            self.python.conda_dependencies = CondaDependencies._from_yaml(
                _read(conda_specification), os.fspath(conda_specification)
            )
        if pip_requirements is not None:
            self.python.conda_dependencies._requirements = requirements.read(pip_requirements)

    @staticmethod
    def from_existing_conda_environment(name: str, conda_environment_name: str) -> Environment:
        """A user-managed environment running a conda environment's own Python (found with
        ``conda``/``mamba``/``micromamba``); with no conda here, an error saying what to use."""
        from .conda_envs import conda_python

        env = Environment(name)
        env.python.user_managed_dependencies = True
        env.python.interpreter_path = conda_python(conda_environment_name)
        return env

    # v1's folder and JSON forms, labels, builds -----------------------------------------------
    def save_to_directory(self, path: str | os.PathLike[str], overwrite: bool = False) -> None:
        """Write v1's layout: ``azureml_environment.json`` + ``conda_dependencies.yml`` (and
        the ``Dockerfile`` of a :meth:`from_dockerfile` environment) in folder ``path``."""
        from .environment_file import save_to_directory

        save_to_directory(self, Path(path), overwrite)

    @staticmethod
    def load_from_directory(path: str | os.PathLike[str]) -> Environment:
        """An environment from a folder :meth:`save_to_directory` (or v1) wrote."""
        from .environment_file import load_from_directory

        return load_from_directory(Path(path))

    def label(self, workspace: Workspace, name: str, version: str | int, labels: Any) -> None:
        """Put ``labels`` (a name or a list) on version ``version`` of the registered
        environment ``name`` (v1's signature: called on any Environment); a label names one
        version of a name, so it moves off the version that had it."""
        if isinstance(labels, str):
            labels = [labels]
        labels = [str(label).strip() for label in labels or []]
        if not labels or not all(labels):
            raise AmlError("label(workspace, name, version, labels) needs one or more labels.")
        Environment.get(workspace, name, version)  # a clear error if there is no such version
        workspace.store.label_environment(name, int(version), labels)

    def build_local(self, workspace: Workspace, platform: Any = None, **kwargs: Any) -> Any:
        """Build this environment now, as a run would (a virtualenv with uv, or its docker
        image); ``useDocker=True`` builds the image. Returns the build log's text."""
        from .build import check, resolve

        env = copy.deepcopy(self)
        if kwargs.pop("useDocker", None) or kwargs.pop("use_docker", None):
            env.docker.enabled = True
        folder = workspace.folder / "envs"
        folder.mkdir(parents=True, exist_ok=True)
        log = folder / f"build_local_{env.hash}.txt"
        log.unlink(missing_ok=True)
        check(workspace.folder, env._spec())
        python = resolve(workspace.folder, env._spec(), log)
        text = log.read_text(encoding="utf-8", errors="replace") if log.exists() else ""
        print(text + f"Environment {env.name!r} ready: {python}")
        return text

    def clone(self, new_name: str) -> Environment:
        """A copy under another name (not registered)."""
        other = copy.deepcopy(self)
        other.name, other.version = Environment(new_name).name, None
        return other

    # its content -------------------------------------------------------------------------------
    def _spec(self) -> dict[str, Any]:
        """Everything about the environment, as JSON-ready data (what the run definition holds)."""
        return {
            "name": self.name,
            "version": self.version,
            "python": {
                "user_managed_dependencies": bool(self.python.user_managed_dependencies),
                "interpreter_path": self.python.interpreter_path,
                "conda_dependencies": self.python.conda_dependencies._spec(),
            },
            "docker": self._docker_spec(),
            "environment_variables": {
                str(k): str(v) for k, v in (self.environment_variables or {}).items()
            },
            "hash": self.hash,
        }

    @property
    def hash(self) -> str:
        """Hash of what the build depends on (not the name, not the environment variables)."""
        build = {
            "user_managed": bool(self.python.user_managed_dependencies),
            "interpreter": self.python.interpreter_path
            if self.python.user_managed_dependencies
            else None,
            "deps": self.python.conda_dependencies._spec(),
            "docker": [bool(self.docker.enabled), self.docker.base_image],
        }
        if self.docker.base_dockerfile:  # absent otherwise: older hashes stay as they were
            build["dockerfile"] = self.docker.base_dockerfile
        return hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:16]

    def _docker_spec(self) -> dict[str, Any]:
        docker: dict[str, Any] = {
            "enabled": bool(self.docker.enabled),
            "base_image": self.docker.base_image,
        }
        if self.docker.base_dockerfile:  # only when set: a registered spec stays as it was
            docker["base_dockerfile"] = self.docker.base_dockerfile
        if self.docker._kept:
            docker["kept"] = dict(self.docker._kept)
        return docker

    @staticmethod
    def _from_spec(spec: dict[str, Any]) -> Environment:
        env = Environment(spec["name"])
        env.version = spec.get("version")
        python = spec.get("python", {})
        env.python.user_managed_dependencies = python.get("user_managed_dependencies", False)
        env.python.interpreter_path = python.get("interpreter_path", "python")
        env.python.conda_dependencies = CondaDependencies._from_spec(
            python.get("conda_dependencies", {})
        )
        env.docker.enabled = spec.get("docker", {}).get("enabled", False)
        env.docker.base_image = spec.get("docker", {}).get("base_image")
        env.docker.base_dockerfile = spec.get("docker", {}).get("base_dockerfile")
        env.docker._kept = dict(spec.get("docker", {}).get("kept") or {})
        env.environment_variables = dict(spec.get("environment_variables", {}))
        return env

    # the registry ------------------------------------------------------------------------------
    def register(self, workspace: Workspace) -> Environment:
        """Store this environment; the same content keeps its version, a change adds one."""
        spec = self._spec()
        content = {k: v for k, v in spec.items() if k not in ("version", "hash")}
        version = workspace.store.register_environment(self.name, self.hash, content)
        registered = Environment._from_spec({**content, "version": str(version)})
        self.version = registered.version
        return registered

    @staticmethod
    def get(
        workspace: Workspace,
        name: str,
        version: str | int | None = None,
        label: str | None = None,
    ) -> Environment:
        """A registered environment: its latest version, ``version``, or the version that
        carries ``label``. v1's curated names (``AzureML-Minimal``, ``AzureML-sklearn-...``)
        give their local equivalent (:mod:`aml_jupyter.environments.curated`)."""
        if version is not None and label is not None:
            raise AmlError("Environment.get takes version= or label=, not both.")
        if label is not None:
            found = workspace.store.environment_version_by_label(name, str(label))
            if found is None:
                raise AmlError(
                    f"No version of environment {name!r} has the label {label!r}; put one on "
                    "with env.label(ws, name, version, [label])."
                )
            version = found
        row = workspace.store.get_environment(name, None if version is None else int(version))
        if row is None:
            from .curated import curated

            local = curated(name) if version is None else None
            if local is not None:
                return local
            known = workspace.store.environment_versions()
            listing = ", ".join(f"{n}:{v}" for n, v in known) or "none yet"
            which = name if version is None else f"{name}:{version}"
            raise AmlError(
                f"No environment {which!r} in this workspace (registered: {listing}). "
                "Register one with env.register(ws)."
            )
        env = Environment._from_spec({**row.spec, "version": str(row.version)})
        env._labels = list(row.spec.get("_labels") or [])
        return env

    @property
    def labels(self) -> list[str]:
        """The labels of this registered version (as read)."""
        return list(self._labels)

    @staticmethod
    def list(workspace: Workspace) -> dict[str, Environment]:
        """The latest version of every registered environment, by name."""
        names = {n for n, _ in workspace.store.environment_versions()}
        return {n: Environment.get(workspace, n) for n in sorted(names)}

    def __repr__(self) -> str:
        deps = self.python.conda_dependencies
        kind = (
            f"interpreter={self.python.interpreter_path!r}"
            if self.python.user_managed_dependencies
            else f"pip={deps.pip_packages!r}"
        )
        if deps._requirements is not None and not self.python.user_managed_dependencies:
            kind += f", requirements={Path(deps._requirements['main']).name!r}"
        return f"Environment(name={self.name!r}, version={self.version!r}, {kind})"


def _read(file_path: str | os.PathLike[str]) -> str:
    path = Path(file_path).expanduser()
    if not path.is_file():
        raise AmlError(f"{os.fspath(file_path)!r} is not a file.")
    return path.read_text()


def _package_count(spec: dict[str, Any]) -> int | str:
    """How many packages a listing shows: a kept requirements file is named (uv reads it)."""
    deps = spec["python"]["conda_dependencies"]
    count = len(deps.get("pip", [])) + len(deps.get("conda", []))
    if not deps.get("requirements"):
        return count
    name = Path(deps["requirements"]["main"]).name
    return f"{name} + {count}" if count else name


def resolve_environment(workspace: Workspace, environment: Any) -> Environment | None:
    """An ``Environment``, or a registered one named ``"name"`` / ``"name:version"``."""
    if environment is None or isinstance(environment, Environment):
        return environment
    if isinstance(environment, str):
        name, _, version = environment.partition(":")
        return Environment.get(workspace, name, version or None)
    raise AmlError(
        f"environment= takes an Environment or a registered name, got {type(environment).__name__}."
    )


def environment_rows(workspace: Workspace) -> list[dict[str, Any]]:
    """Registered environments for people (``%aml_env``, ``aml env list``): latest versions."""
    from .build import is_ready

    rows = []
    for name, env in Environment.list(workspace).items():
        deps = env.python.conda_dependencies
        managed = not env.python.user_managed_dependencies
        rows.append(
            {
                "name": name,
                "version": env.version,
                "kind": "docker"
                if env.docker.enabled
                else "managed"
                if managed
                else "user-managed",
                "python": deps.get_python_version()
                or ("" if managed else env.python.interpreter_path),
                "packages": _package_count(env._spec()) if managed else None,
                "hash": env.hash,
                "built": is_ready(workspace.folder, env._spec()) if managed else None,
            }
        )
    return rows

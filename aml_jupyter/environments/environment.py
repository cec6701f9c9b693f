"""``Environment``: the Python a run uses, by v1's names, registered and versioned in the workspace.

A managed environment (the default) lists packages, or keeps a requirements file as it is
(``compute/requirements.py``); the target builds it once per content hash into a cached
virtualenv (``compute/envbuild.py``). A user-managed one names an interpreter that is used as
it is (v1's default ``python``: the submitting Python).
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: v1's name for the environment a run gets when none is given.
DEFAULT_NAME = "default-environment"


class CondaDependencies:
    """Packages and a Python version, as v1's ``CondaDependencies`` (pip part honoured)."""

    def __init__(self) -> None:
        self._python: str | None = None
        self._pip: list[str] = []
        self._conda: list[str] = []
        #: A requirements file kept as it is (``compute/requirements.read``), or None.
        self._requirements: dict[str, Any] | None = None

    @staticmethod
    def create(
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        **kwargs: Any,
    ) -> CondaDependencies:
        deps = CondaDependencies()
        for p in pip_packages or []:
            deps.add_pip_package(p)
        for p in conda_packages or []:
            deps.add_conda_package(p)
        if python_version:
            deps.set_python_version(python_version)
        return deps

    @staticmethod
    def _from_yaml(text: str, source: str) -> CondaDependencies:
        import yaml

        try:
            doc = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise AmlError(f"{source} is not valid YAML: {e}") from None
        entries = doc.get("dependencies") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise AmlError(f"{source} has no 'dependencies:' list (a conda environment file).")
        deps = CondaDependencies()
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("pip"), list):
                for p in entry["pip"]:
                    deps.add_pip_package(str(p))
            elif isinstance(entry, str):
                name = re.split(r"[=<>!~\s]", entry.split("::")[-1], maxsplit=1)[0]
                if name == "python":
                    deps.set_python_version(entry.split("::")[-1][len("python") :].strip())
                elif name != "pip":
                    deps.add_conda_package(entry)
            else:
                raise AmlError(f"{source}: cannot read the dependency {entry!r}.")
        return deps

    def add_pip_package(self, pip_package: str) -> None:
        if pip_package not in self._pip:
            self._pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if p != pip_package]

    def add_conda_package(self, conda_package: str) -> None:
        if conda_package not in self._conda:
            self._conda.append(conda_package)

    def set_python_version(self, version: str) -> None:
        """``3.11``, ``=3.11``, ``>=3.10``: the Python the environment is built with."""
        self._python = version.strip().lstrip("=").strip() or None

    def get_python_version(self) -> str | None:
        return self._python

    @property
    def pip_packages(self) -> list[str]:
        return list(self._pip)

    @property
    def conda_packages(self) -> list[str]:
        return list(self._conda)

    def serialize_to_string(self) -> str:
        """The conda environment file (YAML) these dependencies make."""
        lines = ["name: project_environment", "dependencies:"]
        if self._python:
            lines.append(f"- python={self._python}")
        lines += [f"- {c}" for c in self._conda]
        if self._pip:
            lines += ["- pip", "- pip:"] + [f"  - {p}" for p in self._pip]
        return "\n".join(lines) + "\n"

    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "python": self._python,
            "pip": list(self._pip),
            "conda": list(self._conda),
        }
        if self._requirements is not None:  # absent otherwise: older hashes stay as they were
            spec["requirements"] = copy.deepcopy(self._requirements)
        return spec

    @staticmethod
    def _from_spec(spec: dict[str, Any]) -> CondaDependencies:
        deps = CondaDependencies.create(spec.get("pip"), spec.get("conda"), spec.get("python"))
        deps._requirements = copy.deepcopy(spec.get("requirements"))
        return deps


class PythonSection:
    """``env.python``: packages, or an interpreter you manage yourself."""

    def __init__(self) -> None:
        self.user_managed_dependencies = False
        self.interpreter_path = "python"
        self.conda_dependencies = CondaDependencies()


class DockerSection:
    """``env.docker``: whether the run executes in a container, and from which image.

    ``base_image`` None: ``$AML_DOCKER_BASE_IMAGE``, else ``aml-jupyter/python:3.11`` (built
    locally by ``make docker``). The run's image adds the environment's pip packages to it.
    """

    def __init__(self) -> None:
        self.enabled = False
        self.base_image: str | None = None


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
    def from_docker_image(name: str, image: str, **kwargs: Any) -> Environment:
        """An environment that runs in a container of ``image``."""
        env = Environment(name)
        env.docker.enabled = True
        env.docker.base_image = image
        return env

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
            "docker": {"enabled": bool(self.docker.enabled), "base_image": self.docker.base_image},
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
        return hashlib.sha256(json.dumps(build, sort_keys=True).encode()).hexdigest()[:16]

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
    def get(workspace: Workspace, name: str, version: str | int | None = None) -> Environment:
        """A registered environment (its latest version unless ``version`` is given)."""
        row = workspace.store.get_environment(name, None if version is None else int(version))
        if row is None:
            known = workspace.store.environment_versions()
            listing = ", ".join(f"{n}:{v}" for n, v in known) or "none yet"
            which = name if version is None else f"{name}:{version}"
            raise AmlError(
                f"No environment {which!r} in this workspace (registered: {listing}). "
                "Register one with env.register(ws)."
            )
        return Environment._from_spec({**row.spec, "version": str(row.version)})

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

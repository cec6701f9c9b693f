"""An ``Environment`` in v1's file forms: the ``environment:`` section of a ``.runconfig``
(camelCase), and the folder ``save_to_directory`` writes (``azureml_environment.json`` +
``conda_dependencies.yml``, and a ``Dockerfile`` when it has one).

A field of the wrong kind is an ``AmlError`` naming the file and the field. v1 fields this
version does not use (spark, databricks, r, docker platform/registry ...) are kept as read and
written back. A kept requirements file (``from_pip_requirements``) is written as the pip list
of its lines, as v1 itself did.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .conda_dependencies import CondaDependencies

if TYPE_CHECKING:
    from .environment import Environment

JSON_FILE = "azureml_environment.json"
CONDA_FILE = "conda_dependencies.yml"
DOCKERFILE = "Dockerfile"
#: What v1 writes for the sections of an environment that do not apply here.
KEPT: dict[str, Any] = {
    "spark": {"repositories": [], "packages": [], "precachePackages": True},
    "databricks": {
        "mavenLibraries": [],
        "pypiLibraries": [],
        "rcranLibraries": [],
        "jarLibraries": [],
        "eggLibraries": [],
    },
    "r": None,
    "inferencingStackVersion": None,
    "assetId": None,
}
_DOCKER_KEPT = (
    "buildContext",
    "sharedVolumes",
    "shmSize",
    "arguments",
    "baseImageRegistry",
    "platform",
)


class Fields:
    """One mapping of a file, read field by field: a wrong one is an error naming the file
    and the field (``where``: the path of the mapping in the file, e.g. ``environment.python``)."""

    def __init__(self, doc: Any, source: str, where: str = "") -> None:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise AmlError(f"{source}: {where or 'the file'} must be a mapping of fields.")
        self.doc, self.source, self.where = doc, source, where

    def _name(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def bad(self, key: str, what: str) -> AmlError:
        return AmlError(
            f"{self.source}: field {self._name(key)!r} must be {what}, got "
            f"{self.doc.get(key)!r}. Fix that line of the file."
        )

    def get(self, key: str, kinds: tuple[type, ...], what: str, default: Any = None) -> Any:
        value = self.doc.get(key, default)
        if value is None:
            return default
        if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
            raise self.bad(key, what)
        return value

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.get(key, (str, int, float), "text", default)
        return None if value is None else str(value)

    def flag(self, key: str, default: bool) -> bool:
        return bool(self.get(key, (bool,), "true or false", default))

    def count(self, key: str, default: int, least: int = 1) -> int:
        value = self.get(key, (int,), f"a whole number >= {least}", default)
        if value < least:
            raise self.bad(key, f"a whole number >= {least}")
        return int(value)

    def section(self, key: str) -> Fields:
        return Fields(self.doc.get(key), self.source, self._name(key))

    def strings(self, key: str) -> list[str]:
        value = self.get(key, (list,), "a list", [])
        return [str(v) for v in value]

    def variables(self, key: str) -> dict[str, str]:
        value = self.get(key, (dict,), "a mapping of names to values", {})
        return {str(k): "" if v is None else str(v) for k, v in value.items()}


# writing --------------------------------------------------------------------------------------
def conda_dependencies(env: Environment) -> CondaDependencies:
    """The environment's dependencies as v1 writes them (a kept requirements file inlined)."""
    from .requirements import flat_lines

    deps = env.python.conda_dependencies
    kept = deps._requirements
    if kept is None:
        return deps
    flat = CondaDependencies._from_spec({**deps._spec(), "requirements": None})
    for line in flat_lines(kept):
        flat.add_pip_package(line)
    return flat


def conda_text(env: Environment) -> str:
    return conda_dependencies(env).serialize_to_string()


def to_section(env: Environment, conda_file: str | None = None, inline: bool = False) -> dict:
    """The ``environment:`` section of a ``.runconfig`` (or the JSON of a saved folder)."""
    docker = env.docker
    section: dict[str, Any] = {
        "name": env.name,
        "version": env.version,
        "environmentVariables": dict(env.environment_variables or {}),
        "python": {
            "userManagedDependencies": bool(env.python.user_managed_dependencies),
            "interpreterPath": env.python.interpreter_path,
            "condaDependenciesFile": conda_file,
            "baseCondaEnvironment": None,
        },
        "docker": {
            "enabled": bool(docker.enabled),
            "baseImage": docker.base_image,
            "baseDockerfile": docker.base_dockerfile,
            **{k: docker._kept[k] for k in _DOCKER_KEPT if k in docker._kept},
        },
    }
    if inline:
        from . import fast_yaml

        section["python"]["condaDependencies"] = fast_yaml.load(conda_text(env))
    for key, default in KEPT.items():
        section[key] = env._kept_sections.get(key, default)
    return section


# reading --------------------------------------------------------------------------------------
def from_section(
    doc: Any, source: str, project: Path, folder: Path, where: str = ""
) -> Environment:
    """An ``Environment`` from a section; a ``condaDependenciesFile`` is looked for relative
    to ``project``, then to ``folder`` (where the file that names it is)."""
    from .environment import Environment

    f = Fields(doc, source, where)
    name = f.text("name") or "default-environment"
    try:
        env = Environment(name)
    except AmlError:
        raise f.bad("name", "a name of 1-255 characters") from None
    env.version = f.text("version")
    env.environment_variables = f.variables("environmentVariables")
    python = f.section("python")
    env.python.user_managed_dependencies = python.flag("userManagedDependencies", False)
    env.python.interpreter_path = python.text("interpreterPath", "python") or "python"
    inline = python.get("condaDependencies", (dict,), "a conda environment mapping")
    conda_file = python.text("condaDependenciesFile")
    if inline is not None:
        env.python.conda_dependencies = CondaDependencies._from_document(
            inline, f"{source} ({python._name('condaDependencies')})"
        )
    elif conda_file:
        path = _locate(conda_file, project, folder)
        if path is None:
            raise AmlError(
                f"{source}: field {python._name('condaDependenciesFile')!r} names "
                f"{conda_file!r}, which is not in {str(project)!r} or {str(folder)!r}."
            )
        env.python.conda_dependencies = CondaDependencies(path)
    docker = f.section("docker")
    env.docker.enabled = docker.flag("enabled", False)
    env.docker.base_image = docker.text("baseImage")
    env.docker.base_dockerfile = docker.text("baseDockerfile")
    env.docker._kept = {k: docker.doc[k] for k in _DOCKER_KEPT if k in docker.doc}
    env._kept_sections = {k: f.doc[k] for k in KEPT if k in f.doc}
    return env


def _locate(name: str, project: Path, folder: Path) -> Path | None:
    path = Path(name).expanduser()
    if path.is_absolute():
        return path if path.is_file() else None
    for base in (project, folder):
        if (base / path).is_file():
            return base / path
    return None


def load_section_file(name: str, project: Path, folder: Path, source: str) -> Environment:
    """The environment a ``.runconfig`` names by path (``separate_environment_yaml``)."""
    import yaml

    from . import fast_yaml

    path = _locate(name, project, folder)
    if path is None:
        raise AmlError(
            f"{source}: field 'environment' names the file {name!r}, which is not in "
            f"{str(project)!r} or {str(folder)!r}."
        )
    try:
        doc = fast_yaml.load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise AmlError(f"{path} is not valid YAML: {exc}") from None
    return from_section(doc, str(path), project, path.parent)


# a folder (save_to_directory / load_from_directory) --------------------------------------------
def save_to_directory(env: Environment, folder: Path, overwrite: bool) -> None:
    files = [folder / JSON_FILE, folder / CONDA_FILE]
    if env.docker.base_dockerfile:
        files.append(folder / DOCKERFILE)
    if not overwrite:
        there = [str(p) for p in files if p.exists()]
        if there:
            raise AmlError(
                f"save_to_directory: {', '.join(there)} already exist; pass overwrite=True to "
                "replace them."
            )
    folder.mkdir(parents=True, exist_ok=True)
    section = to_section(env, CONDA_FILE)
    if env.docker.base_dockerfile:
        section["docker"]["baseDockerfile"] = None  # in the Dockerfile beside it
        write_whole(folder / DOCKERFILE, env.docker.base_dockerfile)
    write_whole(folder / CONDA_FILE, conda_text(env))
    write_whole(folder / JSON_FILE, json.dumps(section, indent=4) + "\n")


def load_from_directory(folder: Path) -> Environment:
    file = folder / JSON_FILE
    if not file.is_file():
        raise AmlError(
            f"{str(folder)!r} holds no {JSON_FILE}: give a folder that "
            "Environment.save_to_directory wrote."
        )
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AmlError(f"{file} is not valid JSON: {exc}") from None
    Fields(doc, str(file))  # a mapping, or a clear error
    python = doc.setdefault("python", {})
    if (
        isinstance(python, dict)
        and not python.get("condaDependencies")
        and not python.get("condaDependenciesFile")
        and (folder / CONDA_FILE).is_file()
    ):
        python["condaDependenciesFile"] = CONDA_FILE
    env = from_section(doc, str(file), folder, folder)
    if not env.docker.base_dockerfile and (folder / DOCKERFILE).is_file():
        env.docker.base_dockerfile = (folder / DOCKERFILE).read_text(encoding="utf-8")
    return env


def write_whole(path: Path, text: str) -> None:
    """The whole file or nothing: a temp file beside it, renamed over it."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


__all__ = ["Fields", "from_section", "load_from_directory", "save_to_directory", "to_section"]

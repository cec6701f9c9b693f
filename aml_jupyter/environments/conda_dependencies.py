"""``CondaDependencies``: v1's packages-and-Python list, read from and written as a conda
``environment.yml``.

Its pip part is installed by uv as it is; conda packages are tried from PyPI
(``numpy=1.26`` as ``numpy==1.26.*``, see ``requirements.pip_requirements``); channels are
kept and written back, and name where a conda install would look.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from ..errors import AmlError


class CondaDependencies:
    """Packages and a Python version, as v1's ``CondaDependencies`` (pip part honoured).

    ``CondaDependencies("environment.yml")`` (or ``conda_dependencies_file_path=``) reads a
    conda environment file.
    """

    def __init__(
        self,
        conda_dependencies_file_path: str | os.PathLike[str] | None = None,
        _underlying_structure: Any = None,
    ) -> None:
        self._python: str | None = None
        self._pip: list[str] = []
        self._conda: list[str] = []
        self._channels: list[str] = []
        self._pip_options: list[str] = []
        self._name = "project_environment"
        #: A requirements file kept as it is (``compute/requirements.read``), or None.
        self._requirements: dict[str, Any] | None = None
        if conda_dependencies_file_path is not None:
            path = Path(conda_dependencies_file_path).expanduser()
            if not path.is_file():
                raise AmlError(
                    f"CondaDependencies: {os.fspath(conda_dependencies_file_path)!r} is not a "
                    "file; give the path of a conda environment.yml."
                )
            try:
                text = path.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise AmlError(f"Cannot read {str(path)!r}: {exc}.") from None
            self._read(text, str(path))

    @staticmethod
    def create(
        pip_indexurl: str | None = None,
        pip_packages: list[str] | None = None,
        conda_packages: list[str] | None = None,
        python_version: str | None = None,
        pin_sdk_version: bool = True,
        **kwargs: Any,
    ) -> CondaDependencies:
        """v1's factory. ``python_version=None`` (v1: 3.10.18): the submitting Python's
        version; ``pip_indexurl`` becomes an ``--index-url`` line; no SDK package is added
        (``azureml.core`` is served by aml_jupyter inside runs)."""
        deps = CondaDependencies()
        if pip_indexurl:
            deps.set_pip_option(f"--index-url {pip_indexurl}")
        for p in pip_packages or []:
            deps.add_pip_package(p)
        for p in conda_packages or []:
            deps.add_conda_package(p)
        if python_version:
            deps.set_python_version(python_version)
        return deps

    @staticmethod
    def _from_yaml(text: str, source: str) -> CondaDependencies:
        deps = CondaDependencies()
        deps._read(text, source)
        return deps

    @staticmethod
    def _from_document(doc: Any, source: str) -> CondaDependencies:
        deps = CondaDependencies()
        deps._read_document(doc, source)
        return deps

    def _read(self, text: str, source: str) -> None:
        import yaml

        from . import fast_yaml

        try:
            doc = fast_yaml.load(text) or {}
        except yaml.YAMLError as e:
            raise AmlError(f"{source} is not valid YAML: {e}") from None
        self._read_document(doc, source)

    def _read_document(self, doc: Any, source: str) -> None:
        entries = doc.get("dependencies") if isinstance(doc, dict) else None
        if not isinstance(entries, list):
            raise AmlError(f"{source} has no 'dependencies:' list (a conda environment file).")
        if isinstance(doc.get("name"), str):
            self._name = doc["name"]
        channels = doc.get("channels") or []
        if not isinstance(channels, list):
            raise AmlError(f"{source}: field 'channels' must be a list, got {channels!r}.")
        for channel in channels:
            self.add_channel(str(channel))
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("pip"), list):
                for p in entry["pip"]:
                    p = str(p).strip()
                    if p.startswith("-") and not p.startswith(("-r", "-e", "-c")):
                        self.set_pip_option(p)
                    else:
                        self.add_pip_package(p)
            elif isinstance(entry, (str, int, float)) and not isinstance(entry, bool):
                entry = str(entry)
                name = re.split(r"[=<>!~\s]", entry.split("::")[-1], maxsplit=1)[0]
                if name == "python":
                    self.set_python_version(entry.split("::")[-1][len("python") :].strip())
                elif name != "pip":
                    self.add_conda_package(entry)
            else:
                raise AmlError(
                    f"{source}: field 'dependencies' cannot hold {entry!r}: give a package "
                    "('numpy=1.26') or a 'pip:' list."
                )

    # v1's editing methods ------------------------------------------------------------------
    def add_pip_package(self, pip_package: str) -> None:
        if pip_package not in self._pip:
            self._pip.append(pip_package)

    def remove_pip_package(self, pip_package: str) -> None:
        self._pip = [p for p in self._pip if p != pip_package and _name(p) != pip_package]

    def add_conda_package(self, conda_package: str) -> None:
        if conda_package not in self._conda:
            self._conda.append(conda_package)

    def remove_conda_package(self, conda_package: str) -> None:
        self._conda = [c for c in self._conda if c != conda_package and _name(c) != conda_package]

    def add_channel(self, channel: str) -> None:
        """Conda channels are written back to the file (packages come from PyPI here)."""
        if channel not in self._channels:
            self._channels.append(channel)

    def remove_channel(self, channel: str) -> None:
        self._channels = [c for c in self._channels if c != channel]

    def set_pip_option(self, pip_option: str) -> None:
        """A pip option line (``--index-url URL``, ``--extra-index-url URL``) for uv."""
        option = pip_option.strip()
        key = option.split()[0] if option else option
        self._pip_options = [o for o in self._pip_options if o.split()[0] != key] + [option]

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

    @property
    def conda_channels(self) -> list[str]:
        return list(self._channels)

    @property
    def pip_options(self) -> list[str]:
        return list(self._pip_options)

    def serialize_to_string(self) -> str:
        """The conda environment file (YAML) these dependencies make."""

        from . import fast_yaml

        deps: list[Any] = []
        if self._python:
            deps.append(f"python={self._python}")
        deps += list(self._conda)
        if self._pip or self._pip_options:
            deps += ["pip", {"pip": [*self._pip_options, *self._pip]}]
        doc: dict[str, Any] = {"name": self._name}
        if self._channels:
            doc["channels"] = list(self._channels)
        doc["dependencies"] = deps
        return str(fast_yaml.dump(doc, sort_keys=False, default_flow_style=False))

    def save(self, path: str | os.PathLike[str] | None = None) -> str:
        """Write the file (``path``, default ``conda_dependencies.yml`` here); returns it."""
        target = Path(path if path is not None else "conda_dependencies.yml").expanduser()
        if target.is_dir():
            target = target / "conda_dependencies.yml"
        if not target.parent.is_dir():
            raise AmlError(f"Cannot save {str(target)!r}: its folder does not exist.")
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_text(self.serialize_to_string(), encoding="utf-8")
        os.replace(tmp, target)
        return str(target)

    # what an environment's spec holds ---------------------------------------------------------
    def _spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "python": self._python,
            "pip": [*self._pip_options, *self._pip],
            "conda": list(self._conda),
        }
        if self._requirements is not None:  # absent otherwise: older hashes stay as they were
            spec["requirements"] = copy.deepcopy(self._requirements)
        if self._channels:
            spec["channels"] = list(self._channels)
        return spec

    @staticmethod
    def _from_spec(spec: dict[str, Any]) -> CondaDependencies:
        deps = CondaDependencies()
        for p in spec.get("pip") or []:
            if p.startswith("--"):
                deps.set_pip_option(p)
            else:
                deps.add_pip_package(p)
        for c in spec.get("conda") or []:
            deps.add_conda_package(c)
        if spec.get("python"):
            deps.set_python_version(spec["python"])
        for channel in spec.get("channels") or []:
            deps.add_channel(channel)
        deps._requirements = copy.deepcopy(spec.get("requirements"))
        return deps

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CondaDependencies) and self._spec() == other._spec()

    def __repr__(self) -> str:
        return (
            f"CondaDependencies(python={self._python!r}, pip={self.pip_packages!r}, "
            f"conda={self.conda_packages!r})"
        )


def _name(package: str) -> str:
    return re.split(r"[=<>!~\[\s;@]", package.split("::")[-1], maxsplit=1)[0]


__all__ = ["CondaDependencies"]

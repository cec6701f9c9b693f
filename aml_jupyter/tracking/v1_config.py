"""Azure ML v1's ``config.json``: reading it (and finding it as v1's ``from_config`` did), and
writing it (``Workspace.write_config``).

A v1 project folder holds ``config.json`` (or ``.azureml/config.json``, or
``aml_config/config.json``) with ``subscription_id``, ``resource_group`` and
``workspace_name``; the portal's older download held one ``Scope`` path instead. Both are read
here. The local workspace of such a folder is ``<project folder>/.aml`` (the folder that holds
the config, or that holds ``.azureml/`` / ``aml_config/``), unless the file names one:
``write_config`` adds ``aml_jupyter_workspace``, the absolute path of the workspace it was
written from, which v1 readers ignore.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, NamedTuple

from ..errors import AmlError

CONFIG_NAME = "config.json"
#: Where in a folder v1 looked for its config, in v1's order.
CONFIG_FOLDERS = (".azureml", "aml_config", "")
#: The key ``write_config`` adds: the local workspace folder the config belongs to.
WORKSPACE_KEY = "aml_jupyter_workspace"
#: v1 configs are a few hundred bytes; anything far bigger is not one.
MAX_CONFIG_BYTES = 64 * 1024

_SCOPE = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
    r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)/?$",
    re.IGNORECASE,
)
#: A v1 workspace name: 2-32 (we allow 1-255) letters, digits, '-' and '_'.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,254}$")


class V1Config(NamedTuple):
    """What a v1 config.json says, and where it was."""

    workspace_name: str
    subscription_id: str | None
    resource_group: str | None
    path: Path
    #: The local workspace folder it names (``aml_jupyter_workspace``), when it names one.
    workspace_folder: Path | None = None

    @property
    def project_folder(self) -> Path:
        """The v1 project folder: the one holding the config or its ``.azureml/`` folder."""
        parent = self.path.parent
        return parent.parent if parent.name in (".azureml", "aml_config") else parent


def _optional_text(data: dict[str, Any], key: str, path: Path) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or len(value) > 1024:
        raise AmlError(
            f"{path}: {key!r} must be a non-empty string (at most 1024 characters), got "
            f"{value!r:.80}. Fix the file or download it again from the portal."
        )
    return value.strip()


def parse_v1_config(text: str | bytes, path: Path) -> V1Config:
    """Read a v1 config's text, or raise :class:`AmlError` saying what is wrong in it."""
    fix = "it should hold {'subscription_id': ..., 'resource_group': ..., 'workspace_name': ...}"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
        raise AmlError(f"{path} is not valid JSON ({exc}); {fix}.") from None
    if not isinstance(data, dict):
        raise AmlError(f"{path} holds a JSON {type(data).__name__}, not an object; {fix}.")
    name = _optional_text(data, "workspace_name", path)
    subscription = _optional_text(data, "subscription_id", path)
    group = _optional_text(data, "resource_group", path)
    scope = _optional_text(data, "Scope", path)
    if name is None and scope is not None:
        match = _SCOPE.match(scope)
        if match is None:
            raise AmlError(
                f"{path}: 'Scope' {scope!r:.120} is not a workspace's resource id "
                "(/subscriptions/<id>/resourceGroups/<group>/providers/"
                "Microsoft.MachineLearningServices/workspaces/<name>)."
            )
        name, subscription, group = match["ws"], match["sub"], match["rg"]
    if name is None:
        raise AmlError(f"{path} has no 'workspace_name'; {fix}.")
    if not _NAME.match(name):
        raise AmlError(
            f"{path}: workspace_name {name!r:.80} is not a workspace name (letters, digits, "
            "'-' and '_', starting with a letter or digit)."
        )
    folder = _optional_text(data, WORKSPACE_KEY, path)
    return V1Config(name, subscription, group, path, Path(folder) if folder else None)


def read_v1_config(path: Path) -> V1Config:
    """Read the v1 config file at ``path`` (see :func:`parse_v1_config`)."""
    try:
        with open(path, "rb") as f:
            text = f.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise AmlError(f"Cannot read the workspace config {path}: {exc.strerror}.") from None
    if len(text) > MAX_CONFIG_BYTES:
        raise AmlError(f"{path} is over {MAX_CONFIG_BYTES // 1024} KiB: not a v1 config.json.")
    return parse_v1_config(text, path)


def looks_like_v1_config(path: Path) -> bool:
    """Whether a ``config.json`` met while searching is a v1 workspace config (other tools
    write files of that name too: those are passed over, not errors)."""
    try:
        with open(path, "rb") as f:
            data = json.loads(f.read(MAX_CONFIG_BYTES))
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and ("workspace_name" in data or "Scope" in data)


def config_files_in(folder: Path, file_name: str = CONFIG_NAME) -> list[Path]:
    """Where v1 looked for its config in one folder, in its order."""
    return [folder / sub / file_name if sub else folder / file_name for sub in CONFIG_FOLDERS]


def find_v1_config_here(folder: Path, file_name: str = CONFIG_NAME) -> Path | None:
    """The v1 config of this folder (not its parents), or None."""
    for candidate in config_files_in(folder, file_name):
        if candidate.is_file() and looks_like_v1_config(candidate):
            return candidate
    return None


def write_v1_config(
    path: str | os.PathLike[str] | None,
    file_name: str | None,
    settings: dict[str, Any],
) -> Path:
    """Write ``<path or .>/.azureml/<file_name or config.json>`` as v1 did; the file's path."""
    name = file_name or CONFIG_NAME
    if Path(name).name != name or name in (".", ".."):
        raise AmlError(f"file_name={name!r} must be a plain file name such as 'config.json'.")
    target = Path(path or ".").expanduser().resolve() / ".azureml" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{name}.partial")
    partial.write_text(json.dumps(settings, indent=4) + "\n")
    os.replace(partial, target)  # never a half-written config
    return target

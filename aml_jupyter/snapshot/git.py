"""Git state of a source folder, recorded as run properties (v1 and MLflow names)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

_ENV_OVERRIDES = {
    "azureml.git.repository_uri": "AZUREML_GIT_REPOSITORY_URI",
    "azureml.git.branch": "AZUREML_GIT_BRANCH",
    "azureml.git.commit": "AZUREML_GIT_COMMIT",
    "azureml.git.dirty": "AZUREML_GIT_DIRTY",
}
_MLFLOW_TWINS = {
    "azureml.git.repository_uri": "mlflow.source.git.repoURL",
    "azureml.git.branch": "mlflow.source.git.branch",
    "azureml.git.commit": "mlflow.source.git.commit",
}


def _git(folder: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=folder, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_properties(folder: str | os.PathLike[str]) -> dict[str, str]:
    """``azureml.git.*`` and ``mlflow.source.git.*`` properties; empty outside a repository."""
    path = Path(folder)
    props: dict[str, str] = {}
    if _git(path, "rev-parse", "--is-inside-work-tree") == "true":
        values = {
            "azureml.git.repository_uri": _git(path, "ls-remote", "--get-url")
            or str(Path(_git(path, "rev-parse", "--show-toplevel") or path).resolve()),
            "azureml.git.branch": _git(path, "symbolic-ref", "--short", "HEAD"),
            "azureml.git.commit": _git(path, "rev-parse", "HEAD"),
            "azureml.git.dirty": str(bool(_git(path, "status", "--porcelain", "."))),
        }
        props = {k: v for k, v in values.items() if v is not None}
    for key, env in _ENV_OVERRIDES.items():
        if os.environ.get(env):
            props[key] = os.environ[env]
    for key, twin in _MLFLOW_TWINS.items():
        if key in props:
            props[twin] = props[key]
    return props

"""Shared fixtures: a fresh workspace in a temp folder, and a clean environment for runs."""

from __future__ import annotations

import contextlib
import os
import textwrap
import time
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import AmlError, Experiment, Run, RunStatus, Workspace

#: A real jupyter server for tests that need one (jp_fetch, jp_serverapp, ...).
#: ``labui``: a real ``jupyter lab`` and Chromium (fixtures ``lab``, ``browser``, ``page``).
pytest_plugins = ["pytest_jupyter.jupyter_server", "labui", "raycluster"]
#: Fixtures that start a Ray cluster (tests/raycluster.py, and the Ray test files' own).
RAY_FIXTURES = {"ray_address", "ray_cluster", "ray_machine"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts Ray (it uses a Ray fixture) has its time limit on the test itself,
    not its fixtures: ``make test`` runs two files at a time, and one Ray cluster at a time
    runs on this machine (tests/raycluster.py), so a Ray fixture may first wait for the other
    worker's cluster to end."""
    for item in items:
        if RAY_FIXTURES & set(getattr(item, "fixturenames", ())):
            limit = item.get_closest_marker("timeout")
            seconds = limit.args[0] if limit is not None and limit.args else 300
            item.add_marker(pytest.mark.timeout(seconds, func_only=True), append=False)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No workspace or run leaks in from the outside; cancels are quick."""
    for var in ("AML_WORKSPACE", "AML_RUN_ID", "AML_EXPERIMENT_NAME", "AZUREML_RUN_ID"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AML_CANCEL_GRACE_SECONDS", "1")
    # Workspace secret keys in the test's folder (beside, not inside, its workspace).
    monkeypatch.setenv("AML_SECRETS_KEY_DIR", str(tmp_path / "secret-keys"))
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def ws(tmp_path: Path) -> Iterator[Workspace]:
    """A new workspace in the test's temp folder; a run a test left going (it failed before
    letting its script end) is canceled afterwards, so no script outlives its test."""
    workspace = Workspace.create(tmp_path)
    yield workspace
    cancel_active_runs(workspace)


def cancel_active_runs(workspace: Workspace) -> None:
    """Cancel every run of ``workspace`` that has not ended, and wait until it has."""
    try:
        experiments = Experiment.list(workspace, view_type="All")
    except AmlError:  # the test removed or replaced the workspace: nothing left to stop
        return
    for experiment in experiments:
        for run in experiment.get_runs(include_children=True):
            if run.get_status() not in RunStatus.TERMINAL:
                with contextlib.suppress(AmlError):
                    run.cancel()  # asks; the target stops the process tree
                    run.wait_for_completion(raise_on_error=False, timeout_seconds=20)


@pytest.fixture
def exp(ws: Workspace) -> Experiment:
    """An experiment in the test workspace."""
    return Experiment(ws, "tests")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """An empty source folder for scripts."""
    folder = tmp_path / "project"
    folder.mkdir()
    return folder


def wait_status(run: Run, statuses: Collection[str], timeout: float = 30) -> str:
    """Poll until the run reaches one of ``statuses``; fail the test if it does not in time."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = run.get_status()
        if status in statuses:
            return status
        time.sleep(0.05)
    raise AssertionError(f"run {run.id} stayed {run.get_status()}")


def write(folder: Path, name: str, text: str) -> Path:
    """Write a (dedented) file and return its path."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def aml_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The "Python 3 (aml)" kernelspec installed into a temp prefix that Jupyter searches."""
    from aml_jupyter.frontends.kernelspec import install

    install(prefix=str(tmp_path / "prefix"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "prefix" / "share" / "jupyter"))
    for var in ("JUPYTERHUB_SERVICE_PREFIX", "AML_TENSORBOARD_URL_PREFIX", "TENSORBOARD_PROXY_URL"):
        monkeypatch.delenv(var, raising=False)
    return "aml"


def remove_built_images(engine: Any, *names: str) -> None:
    """Remove the Docker images a test built, never the base image every image is built from
    (``make docker`` builds it once; later tests need it): a user-managed environment's image
    *is* the base image."""
    from aml_jupyter.environments import docker_image as dockerenv

    keep = {dockerenv.DEFAULT_BASE_IMAGE, os.environ.get("AML_DOCKER_BASE_IMAGE")}
    for name in dict.fromkeys(names):
        if name not in keep and dockerenv._find(engine, name) is not None:
            engine.images.remove(name, force=True)

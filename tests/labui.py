"""A real ``jupyter lab`` for the UI tests, and the steps they share (helpers, not tests).

``start_lab`` starts one on a free port in the test's own folders; ``stop`` ends it by process
group. Screenshots go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import Workspace
from aml_jupyter.compute.distributed import free_port

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: The sidebar as built from labextension/ (`jlpm build:prod`), which the tests load when it
#: is there, so they test the sources as they are, not the copy the last install made.
BUILT = Path(__file__).resolve().parents[1] / "aml_jupyter" / "labextension"
INSTALLED = Path(sys.prefix) / "share" / "jupyter" / "labextensions" / "aml-jupyter"
EXTENSION = BUILT if (BUILT / "package.json").exists() else INSTALLED
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "ui"
#: What every UI test needs: skipped only where chromium or the built extension is missing
#: (``make test`` installs chromium as root and builds the extension).
NEEDS_BROWSER = [
    pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="chromium is not installed"),
    pytest.mark.skipif(
        not (EXTENSION / "package.json").exists(),
        reason="the labextension is not built (make setup builds it)",
    ),
]
#: JupyterLab's own start can be slow on a busy 2-core machine.
START_TIMEOUT_S = 90


class Lab:
    """A running ``jupyter lab`` or Notebook 7 (its URL and token, and its lab-state folder)."""

    def __init__(self, url: str, token: str, root: Path, state: Path | None = None) -> None:
        self.url, self.token, self.root = url, token, root
        self.state = state

    def page_url(self, path: str = "lab") -> str:
        return f"{self.url}/{path}?token={self.token}"


#: ``start_lab``'s ``app``: the module that runs it and the name its settings go by.
APPS = {"lab": ("jupyterlab", "LabApp"), "notebook": ("notebook", "JupyterNotebookApp")}


def start_lab(
    tmp_path: Path,
    root: Path,
    *extra: str,
    app: str = "lab",
    state: Path | None = None,
) -> tuple[subprocess.Popen[bytes], Lab]:
    """``app="notebook"`` starts Notebook 7 instead of JupyterLab; ``state`` is the folder of
    settings and saved layouts (workspaces), ``tmp_path / "lab-state"`` unless given, so a
    second lab can start where a first one left off."""
    module, name = APPS[app]
    port, token = free_port(), secrets.token_hex(16)
    state = state or tmp_path / "lab-state"
    # No "get notified about Jupyter news?" toast over the screenshots (it would go online).
    news = (
        state
        / "settings"
        / "@jupyterlab"
        / "apputils-extension"
        / "notification.jupyterlab-settings"
    )
    news.parent.mkdir(parents=True, exist_ok=True)
    news.write_text('{"fetchNews": "false"}')
    env = {
        **os.environ,
        "JUPYTER_RUNTIME_DIR": str(state / "runtime"),
        "JUPYTER_CONFIG_DIR": str(state / "config"),
    }
    cmd = [
        sys.executable,
        "-m",
        module,
        "--no-browser",
        f"--port={port}",
        "--ip=127.0.0.1",
        f"--ServerApp.token={token}",
        f"--ServerApp.root_dir={root}",
        f"--{name}.user_settings_dir={state / 'settings'}",
        f"--{name}.workspaces_dir={state / 'workspaces'}",
        "--expose-app-in-browser",  # lets a test run notebook commands, as galata does
        *extension_args(state, name),
        *extra,
    ]
    if os.getuid() == 0:
        cmd.append("--allow-root")
    log_path = tmp_path / ("lab.log" if app == "lab" else f"{app}.log")
    if log_path.exists():  # a second lab in the same test: a log of its own
        log_path = log_path.with_name(f"{log_path.stem}-{port}.log")
    log = open(log_path, "wb")  # noqa: SIM115 - closed when the lab stops
    proc = subprocess.Popen(
        cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    lab = Lab(f"http://127.0.0.1:{port}", token, root, state)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={token}", timeout=2):
                return proc, lab
        except OSError:
            time.sleep(0.3)
    stop(proc)
    raise AssertionError(f"jupyter {app} did not start:\n" + log_path.read_text()[-3000:])


def extension_args(state: Path, app: str = "LabApp") -> list[str]:
    """Lab's arguments that load the sidebar from ``EXTENSION`` (found before the installed
    one): a copy, so a rebuild while the lab runs does not pull files from under it."""
    if EXTENSION == INSTALLED:
        return []
    folder = state / "labextensions"
    shutil.copytree(EXTENSION, folder / "aml-jupyter", dirs_exist_ok=True)
    # Notebook 7 lists it in its pages, but JupyterLab's server extension serves its files.
    return [f"--{name}.extra_labextensions_path={folder}" for name in {app, "LabApp"}]


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def open_sidebar(page: Any, lab: Lab, path: str = "lab") -> Any:
    page.goto(lab.page_url(path))
    page.wait_for_selector(".jp-LabShell", timeout=START_TIMEOUT_S * 1000)
    # A restored layout may show the sidebar already: look once Lab has restored it.
    page.wait_for_function("() => window.jupyterapp", timeout=START_TIMEOUT_S * 1000)
    page.evaluate("() => window.jupyterapp.restored.then(() => true)")
    tab = page.locator('.lm-TabBar-tab[data-id="aml-sidebar"]')
    tab.wait_for(timeout=30_000)
    sidebar = page.get_by_test_id("aml-sidebar")
    if not sidebar.is_visible():
        tab.click()
    sidebar.wait_for(state="visible")
    return sidebar


def row_of(sidebar: Any, run_id: str) -> Any:
    return sidebar.locator(f'[data-testid="aml-run-row"][data-run-id="{run_id}"]')


def notebook(cells: list[str]) -> str:
    return json.dumps(
        {
            "cells": [
                {
                    "cell_type": "code",
                    "metadata": {},
                    "source": src,
                    "outputs": [],
                    "execution_count": None,
                }
                for src in cells
            ],
            "metadata": {
                "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
    )


# fixtures of the UI tests (conftest.py registers this module as a plugin) -------------


@pytest.fixture
def lab(tmp_path: Path, project: Path) -> Iterator[Lab]:
    Workspace.create(project)
    proc, lab = start_lab(tmp_path, project)
    try:
        yield lab
    finally:
        stop(proc)
        # Kernels the lab started are in its process group; runs started by them are not.
        for experiment in Workspace(project / ".aml").experiments.values():
            for run in experiment.get_runs():
                run.cancel()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        yield page
    finally:
        context.close()

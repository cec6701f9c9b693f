"""JupyterLab restored in another folder: run tabs of the last project do not come back dead.

JupyterLab keeps its layout per browser workspace, not per folder. A lab started in project B
with the lab state of project A's lab would restore A's run and Compare tabs, which B's
workspace cannot show: they are closed at restore, with one notification saying why.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from labui import NEEDS_BROWSER, open_sidebar, row_of, shot, start_lab, stop

from aml_jupyter import Experiment, Run, Workspace

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(300)]


def finished_run(folder: Path, name: str, loss: float) -> Run:
    ws = Workspace(folder / ".aml") if (folder / ".aml").exists() else Workspace.create(folder)
    run = Experiment(ws, "restore").start_logging(display_name=name, snapshot_directory=None)
    run.log("loss", loss)
    run.complete()
    return run


def saved_layout(state: Path, timeout: float = 30) -> Any:
    """Poll until Lab has saved a layout that names every wanted key; return its data."""

    def wait(*keys: str, absent: tuple[str, ...] = ()) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        data: dict[str, Any] = {}
        while time.monotonic() < deadline:
            for path in (state / "workspaces").glob("*.jupyterlab-workspace"):
                try:
                    data = json.loads(path.read_text()).get("data", {})
                except ValueError:  # being written
                    continue
                if all(k in data for k in keys) and not any(k in data for k in absent):
                    return data
            time.sleep(0.2)
        raise AssertionError(f"the saved layout never had {keys} without {absent}: {list(data)}")

    return wait


def test_run_and_compare_tabs_of_another_workspace_close_at_restore(
    tmp_path: Path, project: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    state = tmp_path / "shared-lab-state"
    first, second = finished_run(project, "a-first", 0.5), finished_run(project, "a-second", 0.4)
    wait = saved_layout(state)

    proc, lab = start_lab(tmp_path, project, state=state)
    try:
        sidebar = open_sidebar(page, lab)
        row_of(sidebar, first.id).click()
        panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{first.id}"]')
        expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Completed", timeout=20_000)
        for run in (first, second):
            row_of(sidebar, run.id).locator("input[type=checkbox]").check()
        sidebar.get_by_test_id("aml-compare").click()
        expect(page.get_by_test_id("aml-compare-table")).to_be_visible(timeout=20_000)
        wait(f"aml-run:{first.id}", f"aml-compare:{first.id},{second.id}")
    finally:
        stop(proc)

    other = tmp_path / "project-b"
    other.mkdir()
    mine = finished_run(other, "b-run", 0.3)
    proc, lab = start_lab(tmp_path, other, state=state)
    try:
        sidebar = open_sidebar(page, lab)
        expect(row_of(sidebar, mine.id)).to_be_visible(timeout=20_000)
        note = page.get_by_text("Closed 1 AML run tab and 1 AML Compare tab")
        expect(note).to_be_visible(timeout=20_000)
        # The folder when the toast has room for it, else the workspace's name (as the sidebar).
        where = str(other) if len(str(other)) < 50 else Workspace(other / ".aml").name
        expect(note).to_have_text(
            f"Closed 1 AML run tab and 1 AML Compare tab: their runs are not in this workspace"
            f" ({where})."
        )
        # The toast slides in: shoot it once it is whole on the screen.
        page.wait_for_function(
            "() => [...document.querySelectorAll('.jp-toast-message')].some("
            "n => n.getBoundingClientRect().right <= window.innerWidth)"
        )
        shot(page, "restore-closed-dead-tabs")
        expect(page.get_by_test_id("aml-run-panel")).to_have_count(0)
        expect(page.get_by_test_id("aml-compare-panel")).to_have_count(0)
        expect(page.locator(".jp-LabShell")).not_to_contain_text("No run")
        expect(page.locator(".lm-DockPanel-tabBar")).not_to_contain_text("a-first")
        # Lab forgets them: a third start would not meet them again.
        wait(absent=(f"aml-run:{first.id}", f"aml-compare:{first.id},{second.id}"))

        # Opened by hand (a link, a command), the panel says what is wrong and closes.
        page.evaluate(
            "id => window.jupyterapp.commands.execute('aml:open-run', { id }).then(() => null)",
            first.id,
        )
        gone = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{first.id}"]')
        missing = gone.get_by_test_id("aml-not-found")
        expect(missing).to_contain_text(f"No run '{first.id}' in this workspace", timeout=20_000)
        expect(missing).to_contain_text(f"This server shows the workspace in {other}")
        shot(page, "restore-run-not-found")
        missing.get_by_test_id("aml-close-tab").click()
        expect(gone).to_have_count(0)

        # So does a comparison with a run that is not here.
        page.evaluate(
            "ids => window.jupyterapp.commands.execute('aml:compare', { ids }).then(() => null)",
            [mine.id, first.id],
        )
        compare = page.get_by_test_id("aml-compare-panel")
        missing = compare.get_by_test_id("aml-not-found")
        expect(missing).to_contain_text(f"No run '{first.id}' in this workspace", timeout=20_000)
        missing.get_by_test_id("aml-close-tab").click()
        expect(compare).to_have_count(0)
    finally:
        stop(proc)

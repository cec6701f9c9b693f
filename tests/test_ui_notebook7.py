"""The AML sidebar in Notebook 7 (``python -m notebook``), driven in Debian's chromium.

Notebook 7's main area holds one widget per page: on its file browser page (``/tree``) run
panels, Compare and TensorBoard open as tabs beside Files and Running; on a notebook page a
click opens that file browser page in a new browser tab, showing the run.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_status, write
from labui import NEEDS_BROWSER, Lab, notebook, row_of, shot, start_lab, stop

from aml_jupyter import Experiment, Run, ScriptRunConfig, Tensorboard, Workspace

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(300)]

TRAIN = """
from aml_jupyter import Run
run = Run.get_context()
for epoch in range(4):
    print(f"epoch {epoch} of the notebook-7 run", flush=True)
    run.log("loss", 1.0 / (epoch + 1), step=epoch)
print("trained", flush=True)
"""


@pytest.fixture
def nb7(tmp_path: Path, project: Path) -> Iterator[Lab]:
    Workspace.create(project)
    proc, server = start_lab(tmp_path, project, app="notebook")
    try:
        yield server
    finally:
        stop(proc)


def submit(project: Path, name: str) -> Run:
    """A real run of ``train.py``, finished."""
    write(project, "train.py", TRAIN)
    run = Experiment(Workspace(project / ".aml"), "nb7").submit(
        ScriptRunConfig(project, "train.py")
    )
    run.display_name = name
    wait_status(run, {"Completed"}, timeout=60)
    return run


def open_sidebar(page: Any, server: Lab, path: str) -> Any:
    """Notebook 7's way: View > Left Sidebar > Show AML: experiments and runs."""
    page.goto(server.page_url(path))
    page.wait_for_selector("#main-panel", timeout=90_000)
    page.locator(".lm-MenuBar-itemLabel", has_text="View").click()
    page.locator(".lm-Menu-itemLabel", has_text="Left Sidebar").click()
    page.locator(".lm-Menu-itemLabel", has_text="Show AML: experiments and runs").click()
    sidebar = page.get_by_test_id("aml-sidebar")
    sidebar.wait_for(state="visible", timeout=30_000)
    return sidebar


def assert_inside(inner: Any, outer: Any) -> None:
    a, b = inner.bounding_box(), outer.bounding_box()
    assert a and b, (a, b)
    assert a["x"] >= b["x"] - 1 and a["x"] + a["width"] <= b["x"] + b["width"] + 1, (a, b)


def test_run_panel_compare_and_tensorboard_open_as_tabs_of_the_file_browser_page(
    nb7: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect
    from tensorboard.summary import Writer

    first, second = submit(project, "nb7-first"), submit(project, "nb7-second")
    events = project.parent / "events"
    writer = Writer(str(events / "train"))
    for step, value in enumerate([0.9, 0.5, 0.3]):
        writer.add_scalar("loss", value, step)
    writer.close()
    second.upload_folder("logs", events)

    sidebar = open_sidebar(page, nb7, "tree")
    expect(row_of(sidebar, first.id)).to_have_attribute("data-status", "Completed", timeout=20_000)
    # Its look in Notebook 7's side panel: nothing runs past the panel's edge.
    assert sidebar.evaluate("n => n.scrollWidth <= n.clientWidth + 1")
    for part in ("aml-search", "aml-status-filter", "aml-compare"):
        assert_inside(sidebar.get_by_test_id(part), sidebar)
    assert_inside(row_of(sidebar, first.id), sidebar)
    shot(page, "notebook7-sidebar")

    row_of(sidebar, first.id).click()
    tabs = page.locator(".jp-TreePanel > .lm-TabBar")
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{first.id}"]')
    expect(panel).to_be_visible(timeout=20_000)
    expect(tabs).to_contain_text("nb7-first")  # a tab beside Files and Running
    expect(tabs).to_contain_text("Files")
    expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Completed")
    log = panel.get_by_test_id("aml-run-log")
    expect(log).to_contain_text("epoch 3 of the notebook-7 run", timeout=20_000)
    expect(log).to_contain_text("trained")
    expect(panel.locator('[data-testid="aml-metric-chart"][data-metric="loss"]')).to_be_visible(
        timeout=20_000
    )
    shot(page, "notebook7-run-panel")

    # The Files tab is still there; the run's tab comes back with a second click on its row.
    tabs.locator(".lm-TabBar-tab", has_text="Files").click()
    expect(panel).to_be_hidden()
    row_of(sidebar, first.id).click()
    expect(panel).to_be_visible()

    for run in (first, second):
        row_of(sidebar, run.id).locator("input[type=checkbox]").check()
    sidebar.get_by_test_id("aml-compare").click()
    table = page.get_by_test_id("aml-compare-table")
    expect(table).to_be_visible(timeout=20_000)
    for run in (first, second):
        # The name shows once the run's details are read: the id meanwhile.
        expect(table.locator(f'th[data-run-id="{run.id}"]')).to_contain_text(
            run.display_name, timeout=30_000
        )
    expect(tabs).to_contain_text("Compare 2 runs")
    shot(page, "notebook7-compare")

    try:
        row_of(sidebar, second.id).click()
        board = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{second.id}"]')
        board.get_by_test_id("aml-open-tensorboard").click()
        frame = page.locator('[data-testid="aml-tensorboard"] iframe')
        expect(frame).to_have_attribute(
            "src", re.compile(r"/aml/tensorboard/[\w-]{20,}/"), timeout=60_000
        )
        expect(frame).to_be_visible()
        expect(tabs).to_contain_text(f"TensorBoard {second.id}")
        inner = page.frame_locator('[data-testid="aml-tensorboard"] iframe')
        card = inner.locator("card-view", has_text="loss").first
        expect(card).to_contain_text(f"{second.id}/train", timeout=90_000)
        shot(page, "notebook7-tensorboard")
    finally:
        Tensorboard([second]).stop()


def test_a_click_on_a_notebook_page_opens_the_run_in_a_new_browser_tab(
    nb7: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    run, other = submit(project, "from-a-notebook"), submit(project, "another")
    (project / "a.ipynb").write_text(notebook(["print('hello')"]))
    sidebar = open_sidebar(page, nb7, "notebooks/a.ipynb")
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=30_000)
    row = row_of(sidebar, run.id)
    expect(row).to_have_attribute("data-status", "Completed", timeout=20_000)
    assert sidebar.evaluate("n => n.scrollWidth <= n.clientWidth + 1")
    assert_inside(row, sidebar)
    shot(page, "notebook7-notebook-page-sidebar")

    with page.context.expect_page() as opened:
        row.click()
    tab = opened.value
    tab.wait_for_load_state()
    assert re.search(rf"/tree\?aml-run={run.id}$", tab.url), tab.url
    panel = tab.locator(f'[data-testid="aml-run-panel"][data-run-id="{run.id}"]')
    expect(panel).to_be_visible(timeout=90_000)
    expect(panel.get_by_test_id("aml-run-log")).to_contain_text("trained", timeout=20_000)
    expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Completed")
    # The notebook stays where it was, in its own browser tab.
    expect(page.locator(".jp-NotebookPanel")).to_be_visible()
    tab.set_viewport_size({"width": 1400, "height": 900})
    shot(tab, "notebook7-run-in-new-tab")

    # Compare, too, opens that page in a new browser tab.
    for each in (run, other):
        row_of(sidebar, each.id).locator("input[type=checkbox]").check()
    with page.context.expect_page() as opened:
        sidebar.get_by_test_id("aml-compare").click()
    compared = opened.value
    table = compared.get_by_test_id("aml-compare-table")
    expect(table).to_be_visible(timeout=90_000)
    for each in (run, other):
        # The name shows once the run's details are read: the id meanwhile.
        expect(table.locator(f'th[data-run-id="{each.id}"]')).to_contain_text(
            each.display_name, timeout=30_000
        )
    assert "aml-compare=" in compared.url, compared.url

    # A model's page, too (the run's outputs hold its file).
    run.upload_file("outputs/weights.txt", str(write(project, "weights.txt", "w")))
    run.register_model("tiny", "outputs/weights.txt")
    sidebar.get_by_test_id("aml-models-title").click()
    with page.context.expect_page() as opened:
        sidebar.locator('[data-testid="aml-model-row"][data-model="tiny:1"]').click()
    model_page = opened.value
    assert "aml-model=tiny" in model_page.url, model_page.url
    panel = model_page.locator('[data-testid="aml-model-panel"][data-model="tiny"]')
    expect(panel).to_be_visible(timeout=90_000)
    expect(panel).to_contain_text("version 1")

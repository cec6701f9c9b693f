"""The AML sidebar and run panel in a real JupyterLab, driven in Debian's chromium (Playwright).

Each test starts ``jupyter lab`` on a free port in its own folders and stops it by process
group (``labui.py``). Screenshots go to ``test-artifacts/ui/``. Skipped only where chromium or
the built extension is missing (``make test`` installs chromium as root and builds the
extension).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_status, write
from labui import (
    NEEDS_BROWSER,
    Lab,
    notebook,
    open_sidebar,
    row_of,
    shot,
    start_lab,
    stop,
)

from aml_jupyter import Experiment, Run, ScriptRunConfig, Workspace

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(240)]


TRAIN = """
import os, time
from aml_jupyter import Run
run = Run.get_context()
for epoch in range(6):
    print(f"epoch {epoch}", flush=True)
    run.log("loss", 1.0 / (epoch + 1), step=epoch)
while not os.path.exists("go"):  # the test lets it finish once it has seen it Running
    time.sleep(0.05)
print("finished", flush=True)
"""


def test_a_run_submitted_from_a_notebook_appears_goes_live_and_opens(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    write(project, "train.py", TRAIN)
    (project / "submit.ipynb").write_text(
        notebook(["%load_ext aml_jupyter", "%aml_submit train.py -e ui --no-widget"])
    )
    sidebar = open_sidebar(page, lab, "lab/tree/submit.ipynb")
    # An empty workspace says how to make a first run.
    expect(sidebar.get_by_test_id("aml-message")).to_contain_text("%aml_submit", timeout=20_000)
    shot(page, "01-empty-workspace")

    page.wait_for_function(
        "() => window.jupyterapp.shell.currentWidget?.sessionContext?.session?.kernel?.status === 'idle'",
        timeout=60_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

    row = sidebar.get_by_test_id("aml-run-row").first
    expect(row).to_have_attribute("data-status", "Running", timeout=60_000)
    run_id = row.get_attribute("data-run-id")
    assert run_id
    run = Run.get(Workspace(project / ".aml"), run_id)
    assert run.experiment.name == "ui"
    shot(page, "02-running")

    row.click()
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{run_id}"]')
    expect(panel).to_be_visible(timeout=20_000)
    expect(panel.get_by_test_id("aml-run-log")).to_contain_text("epoch 5", timeout=20_000)
    chart = panel.locator('[data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(chart).to_be_visible(timeout=20_000)
    expect(chart.locator("canvas").first).to_be_visible()
    expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Running")

    (run.folder / "work" / "go").touch()
    expect(row).to_have_attribute("data-status", "Completed", timeout=30_000)
    expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Completed", timeout=30_000)
    expect(panel.get_by_test_id("aml-run-log")).to_contain_text("finished", timeout=20_000)
    expect(panel.get_by_test_id("aml-cancel")).to_have_count(0)
    shot(page, "03-run-panel-completed")


SLEEPER = """
import time
print("sleeping", flush=True)
time.sleep(300)
"""


def test_a_long_run_is_canceled_from_its_panel_and_names_stay_text(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    write(project, "sleep.py", SLEEPER)
    ws = Workspace(project / ".aml")
    trick = "<img src=x onerror=\"document.title='pwned'\">"
    run = Experiment(ws, "long").submit(ScriptRunConfig(project, "sleep.py"))
    run.display_name = trick
    wait_status(run, {"Running"})

    sidebar = open_sidebar(page, lab)
    row = row_of(sidebar, run.id)
    expect(row).to_have_attribute("data-status", "Running", timeout=20_000)
    expect(row).to_contain_text(trick)  # shown as text, not parsed as HTML
    assert page.title() != "pwned"

    row.click()
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{run.id}"]')
    expect(panel.get_by_test_id("aml-run-log")).to_contain_text("sleeping", timeout=20_000)
    cancel = panel.get_by_test_id("aml-cancel")
    expect(cancel).to_have_class(re.compile(r"\bjp-Button\b.*\bjp-mod-styled\b.*\bjp-mod-warn\b"))
    # Cancel asks first; "Keep running" leaves the run alone.
    cancel.click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Cancel this run?", timeout=10_000)
    shot(page, "04-cancel-dialog")
    dialog.get_by_role("button", name="Keep running").click()
    expect(dialog).to_have_count(0)
    assert run.get_status() == "Running"
    cancel.click()
    dialog.get_by_role("button", name="Cancel run").click()
    expect(panel.get_by_test_id("aml-run-status")).to_contain_text("Canceled", timeout=30_000)
    expect(row).to_have_attribute("data-status", "Canceled", timeout=10_000)
    assert run.get_status() == "Canceled"
    # Canceled, in words: not the signal's exit code.
    expect(panel.get_by_test_id("aml-run-result")).to_have_text("Canceled")
    expect(panel.locator(".aml-Fields")).not_to_contain_text("-15")
    expect(panel.locator(".aml-Fields")).not_to_contain_text("Exit code")
    shot(page, "04-canceled")


def test_without_the_server_extension_the_sidebar_says_how_to_fix_it(
    tmp_path: Path, project: Path, page: Any
) -> None:
    from playwright.sync_api import expect

    proc, lab = start_lab(tmp_path, project, "--ServerApp.jpserver_extensions=aml_jupyter=False")
    try:
        sidebar = open_sidebar(page, lab)
        message = sidebar.get_by_test_id("aml-message")
        expect(message).to_contain_text("server extension is not running", timeout=20_000)
        expect(message).to_contain_text("jupyter server extension list")
        shot(page, "05-no-server-extension")
    finally:
        stop(proc)


def test_search_tags_and_compare(lab: Lab, page: Any, project: Path) -> None:
    from playwright.sync_api import expect

    ws = Workspace(project / ".aml")
    exp = Experiment(ws, "sweep")
    runs = []
    for lr, losses in [("0.1", [1.0, 0.6, 0.5]), ("0.01", [1.0, 0.8, 0.7])]:
        run = exp.start_logging(display_name=f"lr-{lr}", snapshot_directory=None)
        for step, loss in enumerate(losses):
            run.log("loss", loss, step=step)
        run.upload_file("outputs/model.pkl", str(write(project, "model.pkl", f"lr={lr}")))
        run.complete()
        runs.append(run)
    runs[0].register_model("iris", "outputs/model.pkl", model_framework="ScikitLearn")

    sidebar = open_sidebar(page, lab)
    rows = sidebar.get_by_test_id("aml-run-row")
    expect(rows).to_have_count(2, timeout=20_000)
    sidebar.get_by_test_id("aml-search").fill("lr-0.01")
    expect(rows).to_have_count(1, timeout=10_000)
    expect(rows.first).to_have_attribute("data-run-id", runs[1].id)
    # No match: said where the rows would be, under the filters (not above the experiments).
    sidebar.get_by_test_id("aml-search").fill("no-such-run-anywhere")
    empty = sidebar.get_by_test_id("aml-run-list-empty")
    expect(empty).to_contain_text("No runs match these filters.", timeout=10_000)
    below = empty.bounding_box()
    above = sidebar.get_by_test_id("aml-status-filter").bounding_box()
    assert below and above and below["y"] > above["y"] + above["height"], (below, above)
    expect(sidebar.get_by_test_id("aml-message")).to_have_count(1)  # only there
    sidebar.get_by_test_id("aml-search").fill("")
    expect(rows).to_have_count(2, timeout=10_000)
    for button in ("aml-compare",):
        expect(sidebar.get_by_test_id(button)).to_have_class(
            re.compile(r"\bjp-Button\b.*\bjp-mod-styled\b.*\bjp-mod-accept\b")
        )

    # Tags typed in the run panel land on the run.
    row_of(sidebar, runs[0].id).click()
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{runs[0].id}"]')
    expect(panel.get_by_test_id("aml-tag-add")).to_have_class(
        re.compile(r"\bjp-Button\b.*\bjp-mod-styled\b")
    )
    # A run with a display name shows its id beside it, once.
    expect(panel.get_by_test_id("aml-run-header-id")).to_contain_text(runs[0].id)
    panel.get_by_test_id("aml-tag-input").fill("best=yes")
    panel.get_by_test_id("aml-tag-add").click()
    expect(panel.locator('[data-testid="aml-tag"][data-tag="best"]')).to_be_visible(timeout=10_000)
    assert runs[0].get_tags() == {"best": "yes"}

    for run in runs:
        row_of(sidebar, run.id).locator("input[type=checkbox]").check()
    sidebar.get_by_test_id("aml-compare").click()
    table = page.get_by_test_id("aml-compare-table")
    expect(table).to_be_visible(timeout=20_000)
    for run in runs:
        expect(table.locator(f'th[data-run-id="{run.id}"]')).to_contain_text(run.display_name)
    expect(table).to_contain_text("0.7", timeout=10_000)  # last losses side by side
    expect(table).to_contain_text("0.5")
    chart = page.locator('.aml-ComparePanel [data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(chart).to_be_visible(timeout=10_000)
    expect(chart.locator("canvas").first).to_be_visible()
    shot(page, "06-compare")

    # Registered models: the latest version of each; the row's "run" link opens the run that
    # made it (a click on the row opens the model's page: test_ui_models.py).
    sidebar.get_by_test_id("aml-models-title").click()
    model_row = sidebar.locator('[data-testid="aml-model-row"][data-model="iris:1"]')
    expect(model_row).to_contain_text("ScikitLearn", timeout=10_000)
    runs[0].register_model("iris", "outputs/model.pkl")  # version 2 appears live
    expect(sidebar.locator('[data-testid="aml-model-row"][data-model="iris:2"]')).to_be_visible(
        timeout=10_000
    )
    sidebar.locator('[data-testid="aml-model-row"][data-model="iris:2"]').get_by_test_id(
        "aml-model-run-link"
    ).click()
    expect(
        page.locator(f'[data-testid="aml-run-panel"][data-run-id="{runs[0].id}"]')
    ).to_be_visible()
    shot(page, "07-models")


def test_open_tensorboard_from_a_run_panel_in_a_sandbox(lab: Lab, page: Any, project: Path) -> None:
    from playwright.sync_api import expect
    from tensorboard.summary import Writer

    from aml_jupyter import Tensorboard

    events = project.parent / "events"
    writer = Writer(str(events / "train"))
    for step, value in enumerate([0.9, 0.5, 0.3]):
        writer.add_scalar("loss", value, step)
    writer.close()
    run = Experiment(Workspace(project / ".aml"), "tb").start_logging(snapshot_directory=None)
    run.upload_folder("logs", events)
    run.complete()
    try:
        sidebar = open_sidebar(page, lab)
        row_of(sidebar, run.id).click()
        panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{run.id}"]')
        expect(panel.get_by_test_id("aml-open-tensorboard")).to_have_class(
            re.compile(r"\bjp-Button\b.*\bjp-mod-styled\b.*\bjp-mod-accept\b")
        )
        panel.get_by_test_id("aml-open-tensorboard").click()
        frame = page.locator('[data-testid="aml-tensorboard"] iframe')
        expect(frame).to_have_attribute(
            "src", re.compile(r"/aml/tensorboard/[\w-]{20,}/"), timeout=60_000
        )
        # Scripts, but never Jupyter's origin: no allow-same-origin.
        sandbox = (frame.get_attribute("sandbox") or "").split()
        assert "allow-scripts" in sandbox and "allow-same-origin" not in sandbox, sandbox
        # TensorBoard still loads its data and draws the run's "loss" card inside the frame.
        inner = page.frame_locator('[data-testid="aml-tensorboard"] iframe')
        card = inner.locator("card-view", has_text="loss").first
        # The card's table names the run once its points (a POST from the sandbox) came back.
        expect(card).to_contain_text(f"{run.id}/train", timeout=60_000)
        shot(page, "08-tensorboard")
        # The page runs in an opaque origin: it cannot read Jupyter's pages or its API.
        tb = next(f for f in page.frames if "/aml/tensorboard/" in f.url)
        assert tb.evaluate("() => window.origin") == "null"
        reach = tb.evaluate(
            """async (url) => {
                try { const r = await fetch(url); return 'read ' + r.status; }
                catch (e) { return 'blocked'; }
            }""",
            f"{lab.url}/api/contents",
        )
        assert reach == "blocked"
        assert (
            tb.evaluate(
                "() => { try { return !!parent.document; } catch (e) { return 'denied'; } }"
            )
            == "denied"
        )
    finally:
        Tensorboard([run]).stop()


def test_a_run_that_logged_nan_and_infinity_lists_and_opens(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    exp = Experiment(Workspace(project / ".aml"), "nan")
    run = exp.start_logging(display_name="diverged", snapshot_directory=None)
    for step, loss in enumerate([1.0, float("nan"), 0.5, float("inf"), float("-inf")]):
        run.log("loss", loss, step=step)
    run.log_list("curve", [0.1, float("nan")])
    run.complete()

    sidebar = open_sidebar(page, lab)
    row = row_of(sidebar, run.id)
    expect(row).to_have_attribute("data-status", "Completed", timeout=20_000)
    expect(row).to_contain_text("-Infinity")  # its last loss, as the API wrote it
    expect(sidebar.get_by_test_id("aml-message")).to_have_count(0)
    row.click()
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{run.id}"]')
    chart = panel.locator('[data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(chart.locator("canvas").first).to_be_visible(timeout=20_000)
    curve = panel.locator('[data-testid="aml-other-metric"][data-metric="curve"]')
    expect(curve).to_contain_text("NaN")  # a list item, shown as the API wrote it
    expect(panel).not_to_contain_text("server extension is not running")
    shot(page, "09-nan-metrics")


def _rgba(page: Any, color: str) -> tuple[float, float, float, float]:
    """A CSS colour as the browser reads it: (r, g, b, alpha)."""
    text = page.evaluate(
        """(c) => { const d = document.createElement('div'); d.style.color = c;
                    document.body.appendChild(d); const v = getComputedStyle(d).color;
                    d.remove(); return v; }""",
        color,
    )
    parts = [float(p) for p in re.findall(r"[\d.]+", text)]
    return (parts[0], parts[1], parts[2], parts[3] if len(parts) > 3 else 1.0)


def contrast(page: Any, color: str, background: str) -> float:
    """WCAG contrast ratio of ``color`` (blended over ``background``) against ``background``."""
    fg, bg = _rgba(page, color), _rgba(page, background)
    blended = [fg[3] * f + (1 - fg[3]) * b for f, b in zip(fg[:3], bg[:3], strict=True)]

    def luminance(rgb: list[float]) -> float:
        def channel(c: float) -> float:
            c /= 255
            return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

        r, g, b = (channel(c) for c in rgb)
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    light, dark = sorted([luminance(blended), luminance(list(bg[:3]))], reverse=True)
    return (light + 0.05) / (dark + 0.05)


BIG = 100_000


def test_charts_follow_the_theme_and_a_big_metric_opens_downsampled(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    exp = Experiment(Workspace(project / ".aml"), "theme")
    big = exp.start_logging(snapshot_directory=None)  # no display name: the id is its name
    for i in range(BIG):
        big.log("loss", 1.0 / (i + 1) + (0.5 if i == 54_321 else 0.0))
    big.complete()
    small = []
    for name, metrics in [("a", {"accuracy": [0.9], "loss": [0.5, 0.3]}), ("b", {"loss": [0.2]})]:
        run = exp.start_logging(display_name=name, snapshot_directory=None)
        for key, values in metrics.items():
            for value in values:
                run.log(key, value)
        run.complete()
        small.append(run)

    sidebar = open_sidebar(page, lab)
    expect(sidebar.get_by_test_id("aml-run-row")).to_have_count(3, timeout=20_000)
    # The picker is labelled, shows the metric most runs have (not the first by name) ...
    picker = sidebar.get_by_test_id("aml-metric-picker")
    expect(sidebar.locator('label[for="aml-metric-picker"]')).to_have_text("Metric")
    expect(picker).to_have_value("loss")
    # ... and is remembered.
    picker.select_option("accuracy")
    expect(row_of(sidebar, small[0].id)).to_contain_text("0.9")
    page.reload()
    sidebar = open_sidebar(page, lab)
    expect(sidebar.get_by_test_id("aml-metric-picker")).to_have_value("accuracy", timeout=20_000)

    row_of(sidebar, big.id).click()
    panel = page.locator(f'[data-testid="aml-run-panel"][data-run-id="{big.id}"]')
    chart = panel.locator('[data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(chart).to_contain_text(f"{BIG:,} points", timeout=30_000)
    # The server sent at most 2,000 of them (the first view of a long series).
    sampled = chart.get_by_test_id("aml-chart-sampled")
    drawn = int(re.search(r"\(([\d,]+) drawn", sampled.inner_text()).group(1).replace(",", ""))
    assert 100 < drawn <= 2000, drawn
    # Its header names it once: no display name, so no id repeated beside it.
    expect(panel.get_by_test_id("aml-run-header-id")).to_have_text("theme #1")
    plot = chart.locator(".aml-Chart-plot")
    light = plot.get_attribute("data-text-color")
    assert light and contrast(page, light, plot.get_attribute("data-background") or "") >= 4.5
    shot(page, "10-run-panel-light")

    # Drag across the chart: that stretch comes in full from the server.
    over = chart.locator(".u-over")
    box = over.bounding_box()
    assert box
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.56, box["y"] + box["height"] / 2, steps=5)
    page.mouse.up()
    expect(chart).to_have_attribute("data-zoom", "full", timeout=20_000)
    expect(sampled).to_contain_text("zoomed window in full")
    over.dblclick()

    for run in small:
        row_of(sidebar, run.id).locator("input[type=checkbox]").check()
    sidebar.get_by_test_id("aml-compare").click()
    compare = page.locator('.aml-ComparePanel [data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(compare.locator("canvas").first).to_be_visible(timeout=20_000)
    # accuracy, logged once, is a row of the table, not a one-dot chart
    charts = page.locator('.aml-ComparePanel [data-testid="aml-metric-chart"]')
    expect(charts).to_have_count(1)
    shot(page, "11-compare-light")

    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=30_000
    )
    compare_plot = compare.locator(".aml-Chart-plot")
    expect(compare_plot).not_to_have_attribute("data-text-color", light, timeout=10_000)
    dark = compare_plot.get_attribute("data-text-color") or ""
    background = compare_plot.get_attribute("data-background") or ""
    assert _rgba(page, dark) != _rgba(page, light)
    assert contrast(page, dark, background) >= 4.5, (dark, background)
    # The grid is quiet on dark: never brighter than the labels.
    grid = compare_plot.get_attribute("data-grid-color") or ""
    assert contrast(page, grid, background) < contrast(page, dark, background)
    shot(page, "12-compare-dark")
    page.evaluate(f"() => window.jupyterapp.shell.activateById('aml-run-{big.id}')")
    expect(plot).not_to_have_attribute("data-text-color", light, timeout=10_000)
    expect(chart).to_be_visible()
    shot(page, "13-run-panel-dark")


def test_the_first_run_state_creates_a_workspace(tmp_path: Path, project: Path, page: Any) -> None:
    from playwright.sync_api import expect

    proc, lab = start_lab(tmp_path, project)  # no workspace anywhere above the root folder
    try:
        sidebar = open_sidebar(page, lab)
        message = sidebar.get_by_test_id("aml-message")
        expect(message).to_contain_text("No AML workspace", timeout=20_000)
        # A first step to take, not an error.
        expect(message).to_have_attribute("role", "status")
        border = message.evaluate("e => getComputedStyle(e).borderLeftColor")
        error = page.evaluate(
            "() => getComputedStyle(document.body).getPropertyValue('--jp-error-color1')"
        )
        assert _rgba(page, border) != _rgba(page, error)
        shot(page, "14-no-workspace")
        create = sidebar.get_by_test_id("aml-create-workspace")
        expect(create).to_have_class(re.compile(r"\bjp-mod-accept\b"))
        create.click()
        expect(sidebar.get_by_test_id("aml-total")).to_have_text("0 runs", timeout=20_000)
        expect(sidebar.get_by_test_id("aml-run-list-empty")).to_contain_text("No runs yet")
        ws = Workspace(project / ".aml")
        run = Experiment(ws, "first").start_logging(snapshot_directory=None)
        run.complete()
        expect(row_of(sidebar, run.id)).to_be_visible(timeout=20_000)
        shot(page, "15-workspace-created")
    finally:
        stop(proc)

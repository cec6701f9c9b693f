"""The Compare panel's table in a real JupyterLab and chromium: three real runs side by side,
their parameters, arguments and tags, the rows that differ marked, "Show only differences".

Screenshots ``compare-light.png`` and ``compare-dark.png`` go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import wait_status, write
from labui import NEEDS_BROWSER, Lab, open_sidebar, row_of, shot

from aml_jupyter import Experiment, ScriptRunConfig, Workspace

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(240)]

TRAIN = """
import argparse
from aml_jupyter import Run
parser = argparse.ArgumentParser()
parser.add_argument("--C", type=float)
parser.add_argument("--solver")
parser.add_argument("--seed", type=int, default=0)
args, _ = parser.parse_known_args()
run = Run.get_context()
run.log("C", args.C)            # once: a parameter
run.log("max_iter", 100)        # once, the same in every run
if args.seed:
    run.log("seed_used", args.seed)  # only some runs have it
for step in range(3):
    run.log("loss", 1.0 / (step + 1) / args.C, step=step)  # a series: a chart and its last value
"""

RUNS = [
    (["--C", "0.5", "--solver=lbfgs"], {"team": "a", "stage": "dev"}),
    (["--C", "1.0", "--solver=lbfgs", "--seed", "7"], {"team": "a"}),
    (["--C", "2.0", "--solver", "saga"], {"team": "b", "stage": "dev"}),
]

MISSING = "—"


def _rgb(page: Any, color: str) -> tuple[float, float, float, float]:
    """A CSS colour as (r, g, b, alpha 0-1), read back from a canvas (it takes any CSS colour,
    also the ``color(srgb ...)`` that ``color-mix`` computes to)."""
    r, g, b, a = page.evaluate(
        """(c) => { const x = document.createElement('canvas').getContext('2d');
                    x.fillStyle = c; x.fillRect(0, 0, 1, 1);
                    return Array.from(x.getImageData(0, 0, 1, 1).data); }""",
        color,
    )
    return (r, g, b, a / 255)


def _luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def cell_contrast(page: Any, cell: Any) -> float:
    """WCAG contrast of a cell's text against its (opaque) background."""
    colors = cell.evaluate("e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]")
    fg, bg = _rgb(page, colors[0]), _rgb(page, colors[1])
    assert bg[3] > 0.99, f"the cell's background is not opaque: {colors[1]}"
    text = [fg[3] * f + (1 - fg[3]) * b for f, b in zip(fg[:3], bg[:3], strict=True)]
    light, dark = sorted([_luminance(tuple(text)), _luminance(bg)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_compare_shows_parameters_arguments_and_tags_with_differences_marked(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    write(project, "train.py", TRAIN)
    exp = Experiment(Workspace(project / ".aml"), "sweep")
    runs = [
        exp.submit(ScriptRunConfig(project, "train.py", arguments=args), tags=tags)
        for args, tags in RUNS
    ]
    for run in runs:
        assert wait_status(run, {"Completed", "Failed"}, timeout=60) == "Completed"

    sidebar = open_sidebar(page, lab)
    for run in runs:
        row_of(sidebar, run.id).locator("input[type=checkbox]").check(timeout=20_000)
    sidebar.get_by_test_id("aml-compare").click()
    table = page.get_by_test_id("aml-compare-table")
    expect(table).to_be_visible(timeout=20_000)

    def row(section: str, name: str) -> Any:
        return table.locator(
            f'[data-testid="aml-compare-row"][data-section="{section}"][data-name="{name}"]'
        )

    def cells(section: str, name: str) -> list[str]:
        return [c.strip() for c in row(section, name).locator("td").all_inner_texts()]

    # Columns: the runs, each with its status and duration.
    for run in runs:
        header = table.locator(f'th[data-run-id="{run.id}"]')
        expect(header).to_contain_text(run.id)
        expect(header.get_by_test_id("aml-compare-status")).to_have_text(
            re.compile("Completed"), timeout=20_000
        )
        expect(header.get_by_test_id("aml-compare-duration")).to_have_text(re.compile(r"\d"))

    # Parameters: the metrics logged once. C differs, max_iter does not, seed_used is missing.
    expect(row("parameters", "C")).to_have_attribute("data-differs", "true", timeout=20_000)
    assert cells("parameters", "C") == ["0.5", "1", "2"]
    expect(row("parameters", "max_iter")).to_have_attribute("data-differs", "false")
    assert cells("parameters", "max_iter") == ["100", "100", "100"]
    assert cells("parameters", "seed_used") == [MISSING, "7", MISSING]
    # loss is a series: charted, and its last value among the metrics, not a parameter.
    expect(row("parameters", "loss")).to_have_count(0)
    expect(row("metrics", "loss")).to_have_attribute("data-differs", "true")
    chart = page.locator('.aml-ComparePanel [data-testid="aml-metric-chart"][data-metric="loss"]')
    expect(chart.locator("canvas").first).to_be_visible(timeout=10_000)
    # C and max_iter, logged once, are rows above, not one-dot charts.
    expect(page.locator('.aml-ComparePanel [data-testid="aml-metric-chart"]')).to_have_count(1)

    # Arguments: --name value and --name=value pairs, one row each.
    assert cells("arguments", "C") == ["0.5", "1.0", "2.0"]
    assert cells("arguments", "solver") == ["lbfgs", "lbfgs", "saga"]
    assert cells("arguments", "seed") == [MISSING, "7", MISSING]
    # Tags.
    assert cells("tags", "team") == ["a", "a", "b"]
    assert cells("tags", "stage") == ["dev", MISSING, "dev"]

    # Differing rows are marked by class and by a sign (not colour alone); equal ones are not.
    differs = row("parameters", "C")
    expect(differs).to_have_class(re.compile(r"\baml-mod-differs\b"))
    expect(differs.locator(".aml-CompareTable-marker")).to_have_text("≠")
    same = row("parameters", "max_iter")
    expect(same).not_to_have_class(re.compile(r"\baml-mod-differs\b"))
    expect(same.locator(".aml-CompareTable-marker")).to_have_text("")
    marked = differs.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    plain = same.locator("td").first.evaluate("e => getComputedStyle(e).backgroundColor")
    assert _rgb(page, marked) != _rgb(page, plain)
    assert cell_contrast(page, differs.locator("td").first) >= 4.5
    shot(page, "compare-light")

    # "Show only differences" hides the equal rows, and is remembered.
    toggle = page.get_by_test_id("aml-compare-only-differences")
    toggle.check()
    expect(row("parameters", "max_iter")).to_have_count(0)
    expect(row("parameters", "C")).to_be_visible()
    expect(row("arguments", "solver")).to_be_visible()
    expect(table.get_by_test_id("aml-compare-hidden").first).to_contain_text("hidden")
    assert (
        page.evaluate("() => localStorage.getItem('aml-jupyter:compare-only-differences')")
        == "true"
    )

    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=30_000
    )
    expect(row("parameters", "C")).to_be_visible()
    # The marked rows read as well on dark (a tint, not a light box under light text).
    assert cell_contrast(page, row("parameters", "C").locator("td").first) >= 4.5
    assert cell_contrast(page, row("tags", "team").locator("td").first) >= 4.5
    shot(page, "compare-dark")

    # Back to every row.
    toggle.uncheck()
    expect(row("parameters", "max_iter")).to_be_visible()
    assert cells("parameters", "max_iter") == ["100", "100", "100"]

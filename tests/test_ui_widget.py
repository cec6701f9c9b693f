"""The RunDetails widget seen in a real JupyterLab and chromium, on the light and the dark theme.

A notebook submits a real short run (a series metric and scalars) and shows
``RunDetails(run)``; the test waits for it to say Completed, then checks what the eye would:
the chart is a PNG with a transparent background, the summary table's text contrasts with the
page on both themes, and nothing in the widget keeps a white box on the dark theme.
Screenshots ``widget-light.png`` and ``widget-dark.png`` go to ``test-artifacts/ui/``.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from labui import NEEDS_BROWSER, Lab, notebook, shot, start_lab, stop

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(240)]

TRAIN = """
from aml_jupyter import Run
run = Run.get_context()
run.log("C", 0.5)
run.log("max_iter", 100)
for step in range(20):
    run.log("loss", 1.0 / (step + 1), step=step)
print("done", flush=True)
"""

CELLS = [
    "from aml_jupyter import Experiment, RunDetails, ScriptRunConfig, Workspace\n"
    "ws = Workspace('.aml')\n"
    "run = Experiment(ws, 'widget').submit(\n"
    "    ScriptRunConfig('.', 'train.py', arguments=['--lr', '0.1']), tags={'team': 'a'})",
    "RunDetails(run).show()",
]

#: The output area that holds the widget (its summary table marks it).
WIDGET = ".jp-OutputArea-output:has(table.aml-summary)"

#: Colours as the browser paints them (a 1x1 canvas reads any CSS colour), the WCAG contrast
#: of an element's text against the first opaque background behind it, and the elements of
#: the widget with a background that is near white (on dark) or near black (on light).
PAGE_JS = """
() => {
  const ctx = document.createElement('canvas').getContext('2d');
  const rgba = c => { ctx.clearRect(0, 0, 1, 1); ctx.fillStyle = c; ctx.fillRect(0, 0, 1, 1);
                      const d = ctx.getImageData(0, 0, 1, 1).data;
                      return [d[0], d[1], d[2], d[3] / 255]; };
  const lum = ([r, g, b]) => { const f = c => { c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const behind = el => { for (let e = el; e; e = e.parentElement) {
      const bg = rgba(getComputedStyle(e).backgroundColor);
      if (bg[3] > 0.99) { return bg; } }
    return rgba(getComputedStyle(document.body).getPropertyValue('--jp-layout-color0')); };
  window.amlBehind = behind;
  window.amlContrast = el => {
    const bg = behind(el), fg = rgba(getComputedStyle(el).color);
    const text = [0, 1, 2].map(i => fg[3] * fg[i] + (1 - fg[3]) * bg[i]);
    const [a, b] = [lum(text), lum(bg)].sort((x, y) => y - x);
    return (a + 0.05) / (b + 0.05);
  };
  window.amlBoxes = (root, dark) => [root, ...root.querySelectorAll('*')].filter(e => {
      const bg = rgba(getComputedStyle(e).backgroundColor);
      if (bg[3] < 0.5 || e.offsetWidth === 0) { return false; }
      return dark ? lum(bg) > 0.6 : lum(bg) < 0.02;
    }).map(e => `${e.tagName}.${e.className} ${getComputedStyle(e).backgroundColor}`);
}
"""


def chart_png(page: Any) -> Any:
    """The first chart's image as the page holds it (a PIL image); fails if not a PNG."""
    from PIL import Image

    data = page.evaluate(
        f"""async () => {{
            const img = document.querySelector('{WIDGET} .widget-image');
            const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
            let s = ''; bytes.forEach(b => {{ s += String.fromCharCode(b); }});
            return btoa(s);
        }}"""
    )
    raw = base64.b64decode(data)
    assert raw[:8] == b"\x89PNG\r\n\x1a\n", raw[:16]
    return Image.open(io.BytesIO(raw)).convert("RGBA")


def luminance(rgb: tuple[float, ...]) -> float:
    def channel(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def tick_contrast(page: Any, image: Any) -> float:
    """Contrast of the chart's tick labels (its opaque grey pixels, the cores of the glyphs)
    with the page behind the transparent PNG."""
    data = image.tobytes()
    pixels = (tuple(data[i : i + 4]) for i in range(0, len(data), 4))
    greys = [(r, g, b) for r, g, b, a in pixels if a == 255 and max(r, g, b) - min(r, g, b) < 8]
    assert len(greys) >= 20, "no tick labels drawn"
    ink = sorted(greys)[len(greys) // 2]
    behind = (
        page.locator(WIDGET)
        .first.locator(".widget-image")
        .first.evaluate("e => window.amlBehind(e)")
    )
    light, dark = sorted([luminance(ink), luminance(tuple(behind))], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def check_theme(page: Any, dark: bool) -> None:
    page.evaluate(PAGE_JS)
    widget = page.locator(WIDGET).first
    cells = widget.locator("table.aml-summary td")
    assert cells.count() >= 4  # arguments, parameters, tags: name and value each
    for i in range(cells.count()):
        ratio = cells.nth(i).evaluate("e => window.amlContrast(e)")
        assert ratio >= 4.5, (i, cells.nth(i).inner_text(), ratio, dark)
    title = widget.locator(".widget-html-content b", has_text="loss").first
    assert title.evaluate("e => window.amlContrast(e)") >= 4.5
    boxes = widget.evaluate("(e, dark) => window.amlBoxes(e, dark)", dark)
    assert boxes == [], boxes
    # The chart's axis text, drawn once for both themes, still reads on this one (3:1, as
    # WCAG asks of graphics; the values are in the HTML title above it too).
    assert tick_contrast(page, chart_png(page)) >= 3, dark


def run_notebook(page: Any, url: str) -> Any:
    """Open widget.ipynb at ``url`` (JupyterLab's or Notebook 7's page), run all its cells once
    its kernel is idle, and return the widget's output area once it says Completed."""
    from playwright.sync_api import expect

    page.set_viewport_size({"width": 1400, "height": 1200})  # the whole widget in the shots
    page.goto(url)
    page.wait_for_function(
        "() => window.jupyterapp?.shell.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=90_000,
    )
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    widget = page.locator(WIDGET).first
    expect(widget).to_contain_text("Completed", timeout=90_000)
    return widget


def test_run_details_reads_on_light_and_dark_in_a_real_lab(
    lab: Lab, page: Any, project: Path
) -> None:
    from playwright.sync_api import expect

    write(project, "train.py", TRAIN)
    (project / "widget.ipynb").write_text(notebook(CELLS))
    widget = run_notebook(page, lab.page_url("lab/tree/widget.ipynb"))
    summary = widget.locator("table.aml-summary")
    expect(summary.locator('tr[data-summary="arguments"]')).to_contain_text("0.1")
    expect(summary.locator('tr[data-summary="metrics"]').first).to_contain_text("0.5")
    expect(summary.locator('tr[data-summary="tags"]')).to_contain_text("team")
    chart = widget.locator(".widget-image").first
    expect(chart).to_be_visible(timeout=30_000)
    page.wait_for_function(
        f"() => document.querySelector('{WIDGET} .widget-image')?.naturalWidth > 0",
        timeout=30_000,
    )
    widget.scroll_into_view_if_needed()

    # The chart is a PNG whose background is transparent (the page shows through).
    image = chart_png(page)
    assert image.size == (360, 220)
    alpha = image.getchannel("A")
    assert alpha.getpixel((0, 0)) == 0 and alpha.getpixel((359, 219)) == 0
    clear = alpha.histogram()[0] / (360 * 220)
    assert clear > 0.8, f"only {clear:.0%} of the chart is transparent"

    check_theme(page, dark=False)
    shot(page, "widget-light")

    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=30_000
    )
    check_theme(page, dark=True)
    shot(page, "widget-dark")


def test_run_details_shows_in_notebook_7(tmp_path: Path, project: Path, page: Any) -> None:
    """The README says the widget renders in Notebook 7 too: seen there, not only claimed."""
    from playwright.sync_api import expect

    from aml_jupyter import Workspace

    Workspace.create(project)
    write(project, "train.py", TRAIN)
    (project / "widget.ipynb").write_text(notebook(CELLS))
    proc, server = start_lab(tmp_path, project, app="notebook")
    try:
        widget = run_notebook(page, server.page_url("notebooks/widget.ipynb"))
        expect(widget.locator('tr[data-summary="arguments"]')).to_contain_text("0.1")
        page.wait_for_function(
            f"() => document.querySelector('{WIDGET} .widget-image')?.naturalWidth > 0",
            timeout=30_000,
        )
        widget.scroll_into_view_if_needed()
        check_theme(page, dark=False)
        shot(page, "notebook7-widget")
    finally:
        stop(proc)

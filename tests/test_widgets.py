"""``RunDetails``, the live run widget: real submitted runs, its real thread, a real kernel."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from aml_jupyter import Experiment, Run, RunStatus, ScriptRunConfig
from aml_jupyter.frontends.widgets import RunDetails
from aml_jupyter.frontends.widgets.chart_grid import OPEN_CHARTS
from aml_jupyter.frontends.widgets.charts import MAX_DRAWN_POINTS, downsample
from aml_jupyter.frontends.widgets.run_details import FIRST_CHARTS
from tests.conftest import write

PNG = b"\x89PNG\r\n\x1a\n"

# Logs, prints "ready", then waits for the test's go-ahead file before finishing: so the
# test can look at the widget while the run is still going.
LIVE = """
    import os, sys, time
    from pathlib import Path
    from aml_jupyter import Run

    run = Run.get_context()
    for i in range(5):
        print(f"line {i}", flush=True)
        run.log("loss", 1.0 / (i + 1), step=i * 10)
        run.log("accuracy", i / 10)
        run.log_row("per_epoch", epoch=i, loss=1.0 / (i + 1))
        time.sleep(0.05)
    run.log("note", "text, not charted")
    print("progress 10%\\rprogress 100%", flush=True)  # a progress bar rewrites its line
    print("ready", flush=True)
    deadline = time.time() + 30
    while not Path(sys.argv[1]).exists() and time.time() < deadline:
        time.sleep(0.05)
    from matplotlib.figure import Figure
    figure = Figure(figsize=(1, 1))
    figure.add_subplot().plot([0, 1], [1, 0])
    run.log_image("curve", plot=figure)
    with run.child_run("child-a") as child:
        child.log("child_score", 0.75)
    os.makedirs("outputs", exist_ok=True)
    Path("outputs/model.txt").write_text("weights")
    os.makedirs("logs/tb", exist_ok=True)
    Path("logs/tb/events.out.tfevents.1.host").write_bytes(b"not really events")
    print("finished", flush=True)
"""


def is_png(image: Any) -> bool:
    """An ``ipywidgets.Image`` holds a PNG (its value may come back as a memoryview)."""
    return bytes(image.value).startswith(PNG)


def wait_until(condition: Callable[[], object], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout} s")
        time.sleep(0.02)


def finish(details: RunDetails, timeout: float = 60.0) -> None:
    """Wait for the widget's thread to end (it does once the run has ended)."""
    assert details.thread is not None
    details.thread.join(timeout)
    assert not details.thread.is_alive(), "the widget kept polling after the run ended"


def test_a_live_run_shows_everything_and_the_thread_stops(
    exp: Experiment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "train.py", LIVE)
    go = tmp_path / "go"
    run = exp.submit(ScriptRunConfig(project, "train.py", arguments=[str(go)]), tags={"lr": "0.1"})
    details = RunDetails(run)
    details.start()
    assert details.is_watching

    # While the run waits for us: the log and the charts are already there.
    wait_until(lambda: "ready" in details.log_view.value)
    assert run.get_status() == RunStatus.RUNNING
    wait_until(lambda: "Running" in details.status_label.value)
    wait_until(lambda: details.charts.get("loss") is not None and details.charts["loss"].value)
    assert details.is_watching
    go.touch()
    finish(details)

    assert "Completed" in details.status_label.value
    for line in ("line 0", "line 4", "ready", "finished", "progress 100%"):
        assert line in details.log_view.value
    assert "progress 10%" not in details.log_view.value
    assert set(details.charts) == {"loss", "accuracy"}  # 'note' holds text: no chart
    assert all(is_png(image) for image in details.charts.values())
    assert "text, not charted" in details.values_view.value
    data = details.get_widget_data()
    assert data["metrics"]["loss"]["x"] == "step" and data["metrics"]["loss"]["count"] == 5
    assert data["metrics"]["accuracy"]["x"] == "index"
    assert data["tables"]["per_epoch"]["epoch"] == [0, 1, 2, 3, 4]
    assert "<table" in details.tables["per_epoch"].value
    assert is_png(details.images["curve"])
    assert "child-a" in details.children_table.value
    assert "Completed" in details.children_table.value
    assert "child_score=0.75" in details.children_table.value
    assert "outputs/model.txt" in details.files_view.value
    assert data["error"] is None and details.error_view.layout.display == "none"
    assert data["script"] == "train.py" and data["arguments"] == [str(go)]
    assert data["tags"] == {"lr": "0.1"} and "lr: 0.1" in details.details_view.value
    assert data["status"] == RunStatus.COMPLETED and data["watching"] is False

    # A file is chosen already (ipywidgets 8 left a new list unselected: an empty box), the
    # first of ./outputs; the button saves it next to the notebook (here: the working folder).
    assert details.download_select.value == "outputs/model.txt"
    details.download_button.click()
    details.download_button.click()
    assert (tmp_path / "model.txt").read_text() == "weights"
    assert (tmp_path / "model (2).txt").read_text() == "weights"

    # Event files under logs/ offer TensorBoard; without its module, the click says so.
    assert data["tensorboard"] is True
    monkeypatch.setitem(sys.modules, "aml_jupyter.frontends.tensorboard", None)
    details.tensorboard_button.click()
    assert "TensorBoard support is not available" in details.tensorboard_link.value


def test_a_failed_run_shows_its_error(exp: Experiment, project: Path) -> None:
    write(
        project,
        "fail.py",
        """
        print("about to fail", flush=True)
        raise ValueError("bad learning rate 42")
        """,
    )
    details = RunDetails(exp.submit(ScriptRunConfig(project, "fail.py")))
    details.start()
    finish(details)
    assert "Failed" in details.status_label.value
    assert details.error_view.layout.display != "none"
    error = details.error_view.value
    assert "ValueError: bad learning rate 42" in error
    assert "exit code 1" in error
    assert "about to fail" in error  # the log's last lines
    assert details.get_widget_data()["error"]["exit_code"] == 1


def test_a_finished_run_is_shown_whole_without_a_thread(exp: Experiment, project: Path) -> None:
    write(
        project,
        "done.py",
        """
        from aml_jupyter import Run
        run = Run.get_context()
        for step in range(3):
            run.log("loss", 3 - step, step=step)
        print("all done")
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "done.py"))
    run.wait_for_completion()
    details = RunDetails(run)
    details.show()  # outside a kernel display() prints; nothing may start polling
    assert details.thread is None and not details.is_watching
    assert not [t for t in threading.enumerate() if t.name.startswith("RunDetails")]
    assert "Completed" in details.status_label.value
    assert "all done" in details.log_view.value
    assert list(details.charts) == ["loss"] and is_png(details.charts["loss"])
    assert details.get_widget_data()["metrics"]["loss"]["count"] == 3
    assert "final" in details.notice.value


def test_a_run_still_starting_is_followed_from_its_first_line(
    exp: Experiment, project: Path
) -> None:
    write(project, "hello.py", "print('hello early')\n")
    run = exp.submit(ScriptRunConfig(project, "hello.py"))
    details = RunDetails(run)  # probably before the script has started
    details.start()
    finish(details)
    assert "hello early" in details.log_view.value
    assert isinstance(details.run, Run) and "Completed" in details.status_label.value


def test_stop_ends_the_thread_while_the_run_goes_on(exp: Experiment, project: Path) -> None:
    write(project, "sleep.py", "import time\nprint('napping', flush=True)\ntime.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(project, "sleep.py"))
    try:
        details = RunDetails(run)
        details.start()
        wait_until(lambda: "napping" in details.log_view.value)
        details.stop()
        assert details.thread is not None and not details.thread.is_alive()
        assert run.get_status() == RunStatus.RUNNING
        assert "Stopped following" in details.notice.value
        details.start()  # resumes
        assert details.is_watching
    finally:
        run.cancel()
    finish(details)
    assert "Canceled" in details.status_label.value
    assert "canceled" in details.error_view.value.lower()


def test_open_tensorboard_starts_it_and_links_to_it(exp: Experiment, project: Path) -> None:
    pytest.importorskip("tensorboard")
    pytest.importorskip("aml_jupyter.frontends.tensorboard")
    write(
        project,
        "tb.py",
        """
        import os
        os.makedirs("logs/train", exist_ok=True)
        open("logs/train/events.out.tfevents.1.local", "wb").close()
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "tb.py"))
    run.wait_for_completion()
    details = RunDetails(run)
    assert details.get_widget_data()["tensorboard"] is True
    try:
        details.tensorboard_button.click()
        assert "<a href=" in details.tensorboard_link.value, details.tensorboard_link.value
        assert "TensorBoard" in details.tensorboard_link.value
    finally:
        details.close()  # stops the TensorBoard it started
    assert details._files.tensorboard is None


def test_100_metrics_of_10000_points_each(exp: Experiment, project: Path) -> None:
    write(
        project,
        "many.py",
        """
        from aml_jupyter import Run
        run = Run.get_context()
        names = [f"metric_{m:03d}" for m in range(100)]
        for step in range(10_000):
            for m, name in enumerate(names):
                run.log(name, (step * (m + 1)) % 997, step=step)
        """,
    )
    details = RunDetails(exp.submit(ScriptRunConfig(project, "many.py")))
    details.start()  # follows it live: incremental reads while the script logs
    finish(details, timeout=120)
    assert len(details.charts) == 100
    # Only the open charts (the first ones) are drawn; the others wait behind a button.
    assert details.charts_drawn == [f"metric_{m:03d}" for m in range(OPEN_CHARTS)]
    assert all(is_png(details.charts[name]) for name in details.charts_drawn)
    assert details.show_chart_buttons["metric_099"].layout.display != "none"
    details.show_chart_buttons["metric_099"].click()
    assert is_png(details.charts["metric_099"])
    assert details.metric_filter.layout.display != "none"  # many charts: a filter shows
    counts = {m["count"] for m in details.get_widget_data()["metrics"].values()}
    assert counts == {10_000}  # every point once: none lost or read twice
    assert details.refresh() is False  # nothing new: a cycle reads nothing again
    assert {m["count"] for m in details.get_widget_data()["metrics"].values()} == {10_000}
    details.metric_filter.value = "metric_05"
    assert len(details._grid.grid.children) == 10


SCALARS = """
    import sys, time
    from pathlib import Path
    from aml_jupyter import Run

    run = Run.get_context()
    run.log("C", 1.0)
    run.log("max_iter", 100)
    for i in range(10):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.log("accuracy", 0.93)
    run.log_list("sizes", [3, 1, 2])
    run.log("score", 0.5)
    print("ready", flush=True)
    deadline = time.time() + 30
    while not Path(sys.argv[1]).exists() and time.time() < deadline:
        time.sleep(0.05)
    run.log("score", 0.75)  # logged twice: now a series
"""


def summary_rows(details: RunDetails, section: str) -> dict[str, str]:
    """The summary table's rows of one section, name -> value text, read from its HTML."""
    import re

    rows = re.findall(
        rf'<tr data-summary="{section}"><td[^>]*>(.*?)</td><td[^>]*><code[^>]*>(.*?)</code>',
        details.summary_view.value,
    )
    return dict(rows)


def test_values_logged_once_go_in_the_summary_and_series_in_charts(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    write(project, "scalars.py", SCALARS)
    go = tmp_path / "go"
    arguments = [str(go), "--C", "1.0", "--max_iter=100", "--verbose"]
    run = exp.submit(
        ScriptRunConfig(project, "scalars.py", arguments=arguments), tags={"team": "a"}
    )
    details = RunDetails(run)
    details.start()
    wait_until(lambda: "ready" in details.log_view.value and "score" in details.summary_view.value)

    # Live: one value is a row of the table; "score" is there until it has a second number.
    metrics = summary_rows(details, "metrics")
    assert metrics == {"C": "1", "max_iter": "100", "accuracy": "0.93", "score": "0.5"}
    assert list(details.charts) == ["loss"]
    go.touch()
    finish(details)
    assert summary_rows(details, "metrics") == {"C": "1", "max_iter": "100", "accuracy": "0.93"}
    assert list(details.charts) == ["loss", "score"] == details.charts_drawn
    assert summary_rows(details, "arguments") == {
        "C": "1.0",
        "max_iter": "100",
        "verbose": "true",
        "argument 1": str(go),
    }
    assert summary_rows(details, "tags") == {"team": "a"}
    # A list is a one-column table, as the sidebar's run panel shows it; not a chart.
    assert "sizes" not in details.charts
    assert details.get_widget_data()["tables"]["sizes"] == {"sizes": [3, 1, 2]}
    assert "<table" in details.tables["sizes"].value

    # The same run, finished: read once, the same table and exactly one chart per series.
    again = RunDetails(run)
    assert summary_rows(again, "metrics") == summary_rows(details, "metrics")
    assert list(again.charts) == ["loss", "score"] == again.charts_drawn
    assert again.get_widget_data()["summary"]["arguments"]["max_iter"] == "100"


def test_charts_are_transparent_and_the_html_follows_the_theme(
    exp: Experiment, project: Path
) -> None:
    from io import BytesIO

    from PIL import Image

    write(
        project,
        "curve.py",
        """
        from aml_jupyter import Run
        run = Run.get_context()
        for i in range(20):
            run.log("loss", 1.0 / (i + 1), step=i)
        run.log("accuracy", 0.9)
        print("done")
        """,
    )
    run = exp.submit(ScriptRunConfig(project, "curve.py"), tags={"lr": "0.1"})
    run.wait_for_completion()
    details = RunDetails(run)
    image = Image.open(BytesIO(bytes(details.charts["loss"].value)))
    assert image.mode == "RGBA"  # an alpha channel
    alpha = image.getchannel("A")
    width, height = image.size
    corners = [(0, 0), (width - 1, 0), (0, height - 1), (width - 1, height - 1)]
    assert [alpha.getpixel(corner) for corner in corners] == [0, 0, 0, 0]
    histogram = alpha.histogram()
    assert histogram[0] > 0.8 * width * height  # the background shows through, not white
    assert histogram[255] > 0  # but the line and the axes are drawn
    # The summary table and the log: JupyterLab's theme colours, no black or white of ours.
    for html in (details.summary_view.value, details.log_view.value):
        assert "var(--jp-" in html
        for fixed in ("#fff", "#000", "white", "black"):
            assert fixed not in html.replace("white-space", "")


def test_a_finished_run_with_100_metrics_shows_before_its_charts_are_drawn(
    exp: Experiment,
) -> None:
    run = exp.start_logging(snapshot_directory=None, outputs=None)
    names = [f"metric_{m:03d}" for m in range(100)]
    for step in range(10_000):
        for m, name in enumerate(names):
            run.log(name, (step * (m + 1)) % 997, step=step)
    run.log("learning_rate", 0.01)
    run.complete()

    details = RunDetails(run)
    # What the constructor returned with: status, log and summary, at most a few charts.
    drawn = [name for name, image in details.charts.items() if image.value]
    assert len(drawn) <= FIRST_CHARTS
    assert drawn == details.charts_drawn
    assert "Completed" in details.status_label.value
    if details.background is not None:  # the points were still being read: wait for them
        details.background.join(120)
    assert len(details.charts) == 100
    assert len(details.charts_drawn) <= FIRST_CHARTS  # nothing more until it is shown
    assert "learning_rate" in details.summary_view.value
    # On demand: one chart by its button, the open ones in the background once shown.
    details.show_chart_buttons["metric_050"].click()
    assert "metric_050" in details.charts_drawn and is_png(details.charts["metric_050"])
    details.start()
    assert details.thread is None  # no polling for an ended run
    if details.background is not None:
        details.background.join(60)
    assert set(details.charts_drawn) == {*names[:OPEN_CHARTS], "metric_050"}
    assert len(details._grid.grid.children) == 100  # each chart has its place (or button)
    assert details.show_all_charts_button.layout.display != "none"


def test_downsampling_keeps_spikes_and_order() -> None:
    import numpy as np

    x = np.arange(10_000, dtype=float)
    y = np.zeros(10_000)
    y[1234], y[8765] = 50.0, -50.0
    y[5000] = np.nan
    dx, dy = downsample(x, y)
    assert len(dy) <= MAX_DRAWN_POINTS
    assert 50.0 in dy and -50.0 in dy
    assert list(dx) == sorted(dx)
    short_x, short_y = downsample(x[:10], y[:10])
    assert len(short_x) == len(short_y) == 10  # short series are drawn as they are


KERNEL_SETUP = """
import json
from pathlib import Path
from aml_jupyter import Experiment, ScriptRunConfig, Workspace
from aml_jupyter.frontends.widgets import RunDetails

ws = Workspace.create(".")
Path("src").mkdir(exist_ok=True)
Path("src/train.py").write_text(
    "import time\\nfrom aml_jupyter import Run\\nrun = Run.get_context()\\n"
    "for i in range(5):\\n    run.log('loss', 1 / (i + 1), step=i)\\n    time.sleep(0.1)\\n"
    "run.log('accuracy', 0.875)\\n"
    "print('hello from the kernel run')\\n"
)
run = Experiment(ws, "kernel").submit(ScriptRunConfig("src", "train.py"))
details = RunDetails(run)
details.show()
"""

KERNEL_CHECK = """
run.wait_for_completion()
details.thread.join(30)  # the final refresh
print(json.dumps({
    "status": details.status_label.value,
    "has_line": "hello from the kernel run" in details.log_view.value,
    "charts": sorted(details.charts),
    "summary": details.summary_view.value,
    "watching": details.is_watching,
    "model": details.widget.model_id,
    "label_model": details.status_label.model_id,
}))
"""


def test_in_a_real_kernel_it_is_a_standard_widget(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(KERNEL_SETUP),
        nbformat.v4.new_code_cell(KERNEL_CHECK),
        nbformat.v4.new_code_cell("RunDetails(run)"),  # bare, last in a cell, run ended
    ]
    client = NotebookClient(
        nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()

    shown = [o for o in nb.cells[0].outputs if o.get("output_type") == "display_data"]
    assert len(shown) == 1
    view = shown[0]["data"]["application/vnd.jupyter.widget-view+json"]  # no custom JS
    text = "".join(o.get("text", "") for o in nb.cells[1].outputs if o.get("name") == "stdout")
    state = json.loads(text.strip().splitlines()[-1])
    assert "Completed" in state["status"]
    assert state["has_line"] is True
    assert state["charts"] == ["loss"]  # accuracy, logged once, is in the summary table
    assert "accuracy" in state["summary"] and "0.875" in state["summary"]
    assert state["watching"] is False
    assert view["model_id"] == state["model"]
    bare = [o for o in nb.cells[2].outputs if o.get("output_type") == "execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in bare[0]["data"]
    # What the front end got: the label's model state, updated from the widget's thread.
    models = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert "Completed" in models[state["label_model"]]["state"]["value"]


def test_the_files_tab_offers_a_download_only_once_there_is_a_file(
    exp: Experiment, project: Path
) -> None:
    from aml_jupyter.frontends.widgets.files_panel import FilesPanel

    run = exp.start_logging(snapshot_directory=None, outputs=None)
    try:
        panel = FilesPanel(run)
        panel.show([])
        assert panel.download_row.layout.display == "none"  # no empty box to choose from
        panel.show([("user_logs/std_log.txt", 3), ("outputs/b.txt", 1), ("outputs/a.txt", 1)])
        assert panel.download_row.layout.display == ""
        assert panel.download_select.value == "outputs/b.txt"
        panel.download_select.value = "user_logs/std_log.txt"
        panel.show([("user_logs/std_log.txt", 4), ("outputs/b.txt", 1), ("outputs/c.txt", 1)])
        assert panel.download_select.value == "user_logs/std_log.txt"  # the choice stays
    finally:
        run.complete()

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
from aml_jupyter.frontends.widgets.charts import MAX_DRAWN_POINTS, downsample
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

    # The download button saves next to the notebook (here: the working folder), never over.
    details.download_select.value = "outputs/model.txt"
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
    assert all(is_png(image) for image in details.charts.values())
    assert details.metric_filter.layout.display != "none"  # many charts: a filter shows
    counts = {m["count"] for m in details.get_widget_data()["metrics"].values()}
    assert counts == {10_000}  # every point once: none lost or read twice
    assert details.refresh() is False  # nothing new: a cycle reads nothing again
    assert {m["count"] for m in details.get_widget_data()["metrics"].values()} == {10_000}
    details.metric_filter.value = "metric_05"
    assert len(details._grid.grid.children) == 10


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
    assert state["charts"] == ["loss"]
    assert state["watching"] is False
    assert view["model_id"] == state["model"]
    bare = [o for o in nb.cells[2].outputs if o.get("output_type") == "execute_result"]
    assert "application/vnd.jupyter.widget-view+json" in bare[0]["data"]
    # What the front end got: the label's model state, updated from the widget's thread.
    models = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    assert "Completed" in models[state["label_model"]]["state"]["value"]

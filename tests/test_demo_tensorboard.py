"""The TensorBoard demo notebook runs headless in the "Python 3 (aml)" kernel: its run is
recorded with its event files, TensorBoard serves them, and nothing is left running."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from aml_jupyter import RunStatus, Workspace
from tests.notebooks import DEMOS, gone, outputs_text

NOTEBOOK = "03-tensorboard.ipynb"

#: Run in the kernel right after TensorBoard starts: what its HTTP API serves.
PROBE = """
import json, time, urllib.request
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
for _ in range(150):
    with _opener.open(f"http://127.0.0.1:{tb.port}/data/plugin/scalars/tags", timeout=5) as r:
        _tags = json.loads(r.read())
    if _tags:
        break
    time.sleep(0.2)
print("PROBE", tb.pid, json.dumps(_tags, sort_keys=True))
"""


def test_tensorboard_demo(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / NOTEBOOK, tmp_path)
    shutil.copytree(DEMOS / "tb_train", tmp_path / "tb_train")
    nb = nbformat.read(tmp_path / NOTEBOOK, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "tb = Tensorboard([run])" in c.source)
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(PROBE + "print('IFRAME', tb._html())"))
    # The demo leaves TensorBoard up for Run All (its page must load); we stop it at the end.
    assert nb.cells[-1].source.strip() == "# tb.stop()"
    nb.cells[-1].source = "tb.stop()"
    client = NotebookClient(
        nb, timeout=120, kernel_name=aml_kernel, resources={"metadata": {"path": str(tmp_path)}}
    )
    try:
        client.execute()
    finally:
        for registry in (tmp_path / ".aml").rglob("instances.json"):
            for entry in json.loads(registry.read_text()):  # a failed cell left one running
                if not gone(entry["pid"]):
                    os.killpg(entry["pid"], signal.SIGKILL)

    text = outputs_text(nb)
    html = "\n".join(
        str(out.get("data", {}).get("text/html", ""))
        for cell in nb.cells
        for out in cell.get("outputs", [])
    )
    (run,) = Workspace(tmp_path).experiments["tensorboard-demo"].get_runs()
    assert run.get_status() == RunStatus.COMPLETED
    assert "step 19: loss 0.022, accuracy 0.989" in text  # the log streamed into the notebook
    events = [n for n in run.get_file_names() if n.startswith("logs/train/events.out.tfevents.")]
    assert len(events) == 1
    assert repr(events) in text  # the notebook listed them

    probe = re.search(r"PROBE (\d+) (.*)", text)
    assert probe is not None, text
    pid, tags = int(probe.group(1)), json.loads(probe.group(2))
    assert tags == {
        f"{run.id}/train": {
            "accuracy": {"description": "", "displayName": ""},
            "loss": {"description": "", "displayName": ""},
        }
    }
    port = re.search(r"TensorBoard started on port (\d+) \(pid (\d+)\)", text)
    assert port is not None and int(port.group(2)) == pid
    url = f"http://127.0.0.1:{port.group(1)}/"
    assert f'<iframe src="{url}"' in text and f'<a href="{url}"' in text
    assert f"Stopped TensorBoard on port {port.group(1)} (pid {pid})." in text
    # Where the page was shown, stop() says it stopped (no proxy error page for Run All).
    assert "<iframe" not in html
    assert f"TensorBoard stopped (it served 1 run on port {port.group(1)})" in html
    assert gone(pid)
    assert json.loads((tmp_path / ".aml" / "tensorboard" / "instances.json").read_text()) == []

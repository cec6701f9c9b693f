"""Every demo notebook runs headless in the "Python 3 (aml)" kernel, and its runs are recorded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from aml_jupyter import RunStatus, Workspace
from aml_jupyter.kernelspec import install

DEMOS = Path(__file__).resolve().parent.parent / "demo-notebooks"


@pytest.fixture
def aml_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """The aml kernelspec installed into a temp prefix that Jupyter searches."""
    install(prefix=str(tmp_path / "prefix"))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "prefix" / "share" / "jupyter"))
    return "aml"


def execute(nb: nbformat.NotebookNode, cwd: Path, kernel: str) -> nbformat.NotebookNode:
    """Run every cell in a real kernel started in ``cwd``; a cell error fails the test."""
    resources = {"metadata": {"path": str(cwd)}}
    NotebookClient(nb, timeout=120, kernel_name=kernel, resources=resources).execute()
    return nb


def outputs_text(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    return "\n".join(parts)


def test_the_kernelspec_preloads_the_magics(aml_kernel: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%aml_workspace")]
    done = execute(nb, tmp_path, aml_kernel)
    assert "UsageError" not in outputs_text(done)
    assert (tmp_path / ".aml" / "aml.db").exists()


def test_quickstart(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "01-quickstart.ipynb", tmp_path)
    nb = execute(
        nbformat.read(tmp_path / "01-quickstart.ipynb", as_version=4), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    assert "epoch 4: loss 0.200" in text  # the run's log streamed into the notebook
    ws = Workspace(tmp_path)
    runs = list(ws.experiments["quickstart"].get_runs())
    assert len(runs) == 1
    run = runs[0]
    assert run.get_status() == RunStatus.COMPLETED
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1 / 3, 0.25, 0.2]
    assert run.get_tags() == {"owner": "me"}
    assert (
        os.path.basename(str(run.get_details()["runDefinition"]["sourceDirectory"]))
        == tmp_path.name
    )


def test_a_kernel_restart_does_not_stop_a_submitted_run(aml_kernel: str, tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    (tmp_path / "slow.py").write_text("import time\ntime.sleep(2)\nprint('outlived the kernel')\n")
    km, kc = start_new_kernel(kernel_name=aml_kernel, cwd=str(tmp_path))
    try:
        reply = kc.execute_interactive(
            "r = %aml_submit slow.py -e restart\nprint('RUN', r.id)", timeout=60
        )
        assert reply["content"]["status"] == "ok"
        km.restart_kernel(now=True)  # SIGKILLs the kernel's process group
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    ws = Workspace(tmp_path)
    (run,) = ws.experiments["restart"].get_runs()
    assert run.wait_for_completion(timeout_seconds=60)["status"] == RunStatus.COMPLETED
    assert "outlived the kernel" in run.read_log()

"""Running notebooks in a real kernel for tests, and reading what they showed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

DEMOS = Path(__file__).resolve().parent.parent / "demo-notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def execute(
    nb: nbformat.NotebookNode, cwd: Path, kernel: str, timeout: int = 120
) -> nbformat.NotebookNode:
    """Run every cell in a real kernel started in ``cwd``; a cell error fails the test.

    ``timeout``: seconds one cell may take. The final state of every widget is kept in the
    notebook's metadata (nbclient's default).
    """
    resources = {"metadata": {"path": str(cwd)}}
    NotebookClient(nb, timeout=timeout, kernel_name=kernel, resources=resources).execute()
    return nb


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def widget_text(nb: nbformat.NotebookNode) -> str:
    """Every string in the saved widget state: what the widgets (e.g. RunDetails) showed."""
    models = nb.metadata.get("widgets", {}).get(WIDGET_STATE, {}).get("state", {})
    return "\n".join(s for model in models.values() for s in _strings(model.get("state", {})))


def outputs_text(nb: nbformat.NotebookNode) -> str:
    """The text a person saw: streams, plain-text results and the widgets' contents."""
    parts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            parts.append(out.get("text", ""))
            parts.append(str(out.get("data", {}).get("text/plain", "")))
    parts.append(widget_text(nb))
    return "\n".join(parts)


def gone(pid: int) -> bool:
    """True when no process ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True

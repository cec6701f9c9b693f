"""The Files tab of ``RunDetails``: the run's files, a download button, TensorBoard.

Downloads land next to the notebook (the kernel's working folder) under the file's base name,
never over an existing file. The "Open TensorBoard" button appears when the run has event
files under ``logs/``; it starts :class:`aml_jupyter.frontends.tensorboard.Tensorboard` on click.
"""

from __future__ import annotations

import importlib
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from ...errors import AmlError
from ...tracking.run_files import has_event_files
from . import render

if TYPE_CHECKING:
    from ...tracking.run import Run


def _red(text: str) -> str:
    return f'<span style="color:#c62828">{escape(text)}</span>'


def free_path(folder: Path, name: str) -> Path:
    """``folder/name``, or ``folder/stem (2).ext`` … when that exists: never overwrite."""
    path = folder / name
    number = 2
    while path.exists():
        path = folder / f"{Path(name).stem} ({number}){Path(name).suffix}"
        number += 1
    return path


class FilesPanel:
    """``view`` (the tab) and ``tensorboard_box`` (shown above the tabs when useful)."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.files_view = w.HTML(render.files_html([]))
        self.download_select = w.Dropdown(options=[], layout=w.Layout(width="420px"))
        self.download_button = w.Button(
            description="Download", icon="download", tooltip="Save the file next to the notebook"
        )
        self.download_button.on_click(self.download)
        self.download_message = w.HTML()
        self._picked: str | None = None  # the file chosen for the user, not by them
        self.download_row = w.HBox(
            [self.download_select, self.download_button, self.download_message],
            layout=w.Layout(display="none"),  # until the run has a file
        )
        self.view = w.VBox([self.files_view, self.download_row])
        self.tensorboard_button = w.Button(
            description="Open TensorBoard", icon="line-chart", tooltip="TensorBoard on ./logs"
        )
        self.tensorboard_button.on_click(self.open_tensorboard)
        self.tensorboard_link = w.HTML()
        self.tensorboard_box = w.HBox(
            [self.tensorboard_button, self.tensorboard_link], layout=w.Layout(display="none")
        )
        self.tensorboard: Any = None
        self.tensorboard_url: str | None = None

    def show(self, files: list[tuple[str, int | None]]) -> None:
        """Show ``(name, size)`` pairs; offer them for download; TensorBoard if useful."""
        self.files_view.value = render.files_html(files)
        names = [name for name, _ in files]
        current = self.download_select.value
        if list(self.download_select.options) != names:
            self.download_select.options = names
            # ipywidgets 8 leaves a new list unselected (an empty box): keep the choice, else
            # offer the first of ./outputs, what a user most often wants.
            # A file the user chose stays chosen; one we chose follows the rule as files come.
            outputs = [n for n in names if n.startswith("outputs/")]
            ours = current is None or current == self._picked or current not in names
            first = (outputs or names or [""])[0] or None
            chosen = first if ours else current
            self.download_select.value = chosen
            self._picked = chosen if ours else self._picked
        self.download_row.layout.display = "" if names else "none"
        self.tensorboard_box.layout.display = "" if has_event_files(names) else "none"

    @property
    def offers_tensorboard(self) -> bool:
        """True when the "Open TensorBoard" button is shown."""
        return self.tensorboard_box.layout.display != "none"

    def download(self, _button: Any = None) -> None:
        """Save the chosen file in the working folder (the notebook's, in Jupyter)."""
        name = self.download_select.value
        if not name:
            self.download_message.value = "Choose a file first."
            return
        try:
            path = self.run.download_file(name, free_path(Path.cwd(), Path(name).name))
        except (AmlError, OSError) as exc:
            self.download_message.value = _red(str(exc))
            return
        self.download_message.value = f"Saved <code>{escape(path)}</code>"

    def open_tensorboard(self, _button: Any = None) -> None:
        """Start TensorBoard on the run's ``./logs`` (once) and show a link to it."""
        if self.tensorboard_url is None:
            try:
                # Imported here: TensorBoard support is optional and heavy.
                module = importlib.import_module("aml_jupyter.frontends.tensorboard")
            except ImportError as exc:
                self.tensorboard_link.value = _red(
                    "TensorBoard support is not available: aml_jupyter.frontends.tensorboard could not "
                    f"be imported ({exc}). Install it with pip install 'aml-jupyter[lab]'."
                )
                return
            self.tensorboard_link.value = "Starting TensorBoard…"
            try:
                self.tensorboard = module.Tensorboard([self.run])
                self.tensorboard_url = str(self.tensorboard.start())
            except Exception as exc:  # its own errors say what to install or fix
                self.tensorboard = None
                self.tensorboard_link.value = _red(
                    f"TensorBoard did not start: {type(exc).__name__}: {exc}"
                )
                return
        url = escape(self.tensorboard_url, quote=True)
        self.tensorboard_link.value = f'<a href="{url}" target="_blank">TensorBoard: {url}</a>'

    def stop_tensorboard(self) -> None:
        """Stop the TensorBoard this panel started, if any."""
        if self.tensorboard is not None:
            self.tensorboard.stop()
            self.tensorboard = None
            self.tensorboard_url = None

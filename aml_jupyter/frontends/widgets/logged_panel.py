"""The Tables and Images tabs of ``RunDetails``: ``log_row``/``log_table``/``log_list`` tables
and ``log_image`` pictures, each (re)shown only when its version changed."""

from __future__ import annotations

import tempfile
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING

import ipywidgets as w

from ...errors import AmlError
from . import render

if TYPE_CHECKING:
    from ...tracking.run import Run
    from .feed import RunFeed

_IMAGE_FORMATS = {".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg", ".gif": "gif", ".svg": "svg+xml"}


class LoggedPanel:
    """``tables``: ``{name: HTML}`` in ``tables_box``; ``images``: ``{name: Image}`` in
    ``images_box``."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self.tables: dict[str, w.HTML] = {}
        self.images: dict[str, w.Image] = {}
        self._captions: dict[str, w.HTML] = {}
        self._shown_versions: dict[tuple[str, str], int] = {}
        self.tables_box = w.VBox()
        self.images_box = w.HBox(layout=w.Layout(flex_flow="row wrap"))

    def show(self, feed: RunFeed, names: set[str]) -> None:
        """Show the tables and images among ``names`` (the metrics that changed)."""
        for name in sorted(names & feed.tables.keys()):
            table = feed.tables[name]
            if self._shown_versions.get(("table", name)) != table.version:
                self._shown_versions[("table", name)] = table.version
                if name not in self.tables:
                    self.tables[name] = w.HTML()
                    self.tables_box.children = (
                        *self.tables_box.children,
                        w.HTML(f"<b>{escape(name)}</b>"),
                        self.tables[name],
                    )
                self.tables[name].value = render.table_html(table)
        for name in sorted(names & feed.images.keys()):
            self._show_image(name, feed.images[name], feed.image_versions[name])

    def _show_image(self, name: str, file_name: str, version: int) -> None:
        if self._shown_versions.get(("image", name)) == version:
            return
        self._shown_versions[("image", name)] = version
        kind = _IMAGE_FORMATS.get(Path(file_name).suffix.lower(), "png")
        if name not in self.images:
            self.images[name] = w.Image(format=kind, layout=w.Layout(max_width="480px"))
            self._captions[name] = w.HTML(f"<b>{escape(name)}</b>")
            self.images_box.children = (
                *self.images_box.children,
                w.VBox([self._captions[name], self.images[name]]),
            )
        try:
            # Through the run's files API, so a stored upload and a live file both work.
            with tempfile.TemporaryDirectory(prefix="aml-widget-") as folder:
                path = self.run.download_file(file_name, Path(folder) / Path(file_name).name)
                data = Path(path).read_bytes()
        except (AmlError, OSError) as exc:
            self._captions[
                name
            ].value = f"<b>{escape(name)}</b>: <i>cannot be read ({escape(str(exc))})</i>"
            return
        self.images[name].format = kind
        self.images[name].value = data

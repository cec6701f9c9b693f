"""The ``Tensorboard`` class (Azure ML v1's names): start, stop, find and show the TensorBoard
over a set of runs' logs (see the package's docstring)."""

from __future__ import annotations

import contextlib
import html
import importlib.util
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from . import logs
from .server import Instances, answers, find, launch, terminate
from .urls import tensorboard_url

if TYPE_CHECKING:
    from ...tracking.run import Run
    from ...tracking.workspace import Workspace

INSTALL_HINT = (
    "Install it with `pip install tensorboard` (or `pip install 'aml-jupyter[lab]'`, which "
    "brings TensorBoard and jupyter-server-proxy), then try again."
)


class Tensorboard:
    """TensorBoard over the ``./logs`` of ``runs`` (Azure ML v1 names).

    ``runs``: the runs to show, one named log folder each: the run id, or its display name
    with ``use_display_name=True``. Child runs are not included. ``runs=[]`` serves the
    folder ``local_root`` as it is.
    ``local_root``: where stored logs are copied for runs that have no live ``./logs`` folder
    (default ``<workspace>/tensorboard``; each run gets ``<local_root>/<run id>/``).
    ``port``: the first port to try; the next free one is used when it is taken.
    """

    def __init__(
        self,
        runs: Sequence[Run],
        local_root: str | os.PathLike[str] | None = None,
        port: int = 6006,
        use_display_name: bool = False,
    ) -> None:
        from ...tracking.run import Run
        from ...tracking.workspace import Workspace

        if isinstance(runs, Run):
            runs = [runs]
        self._runs: list[Run] = list(runs)
        for run in self._runs:
            if not isinstance(run, Run):
                raise AmlError(
                    f"Tensorboard takes a list of runs, got {type(run).__name__} {run!r} in it."
                )
        if not isinstance(port, int) or not 0 < port < 65536:
            raise AmlError(f"port must be a TCP port number (1-65535), got {port!r}.")
        ws: Workspace | None = self._runs[0].workspace if self._runs else None
        if ws is None:
            found = Workspace.find()
            with contextlib.suppress(AmlError):  # $AML_WORKSPACE may name no workspace
                ws = Workspace(found) if found is not None else None
        self._ws = ws
        if local_root is not None:
            self._local_root: Path | None = Path(local_root).expanduser().resolve()
        else:
            self._local_root = ws.folder / "tensorboard" if ws is not None else None
        self._port = port
        self._use_display_name = use_display_name
        self._instance: dict[str, Any] | None = None
        self._display_handle: Any = None
        #: Every output showing this TensorBoard here, so stop() can say so in each.
        self._shown: list[Any] = []

    # what it serves -------------------------------------------------------------------------
    def _logdir(self, copy: bool) -> tuple[str, str]:
        """TensorBoard's flag and its value: ``--logdir_spec`` for runs, else ``--logdir``."""
        return logs.logdir(self._runs, self._local_root, self._use_display_name, copy)

    def _registry(self) -> Instances:
        if self._ws is not None:
            return Instances(self._ws.folder / "tensorboard")
        return Instances(Path(tempfile.gettempdir()) / f"aml-tensorboard-{os.getuid()}")

    # v1 API ---------------------------------------------------------------------------------
    def start(self, start_browser: bool = False) -> str:
        """Start TensorBoard (or find the one already serving these runs); return its URL.

        The URL is ``<Jupyter base URL>proxy/<port>/`` in a kernel of a Jupyter server (served
        by jupyter-server-proxy), else ``http://127.0.0.1:<port>/``. ``$AML_TENSORBOARD_URL_PREFIX``
        overrides it. Runs without a live ``./logs`` folder have their stored ``logs/`` files
        copied to ``local_root`` on each call, so calling it again shows what they uploaded
        since. Raises :class:`~aml_jupyter.AmlError` when TensorBoard is not installed or does
        not come up; no process is left behind then.
        """
        if importlib.util.find_spec("tensorboard") is None:
            raise AmlError(f"TensorBoard is not installed in {sys.executable}. {INSTALL_HINT}")
        flag, logdir = self._logdir(copy=True)
        registry = self._registry()
        with registry.entries() as entries:
            entry = find(entries, flag, logdir)
            if entry is not None and not answers(entry["port"], logdir):
                terminate(entry)  # ours (pid and start time match) but hung: replace it
                entries.remove(entry)
                entry = None
            if entry is not None:
                ago = _duration(time.time() - entry["start_time"])
                print(
                    f"Reusing TensorBoard on port {entry['port']} (pid {entry['pid']}), "
                    f"started {ago} ago."
                )
            else:
                entry = launch(flag, logdir, self._port, registry.folder, entries)
                entries.append(entry)
        self._instance = entry
        url = self.url
        assert url is not None
        if start_browser and url.startswith("http"):
            import webbrowser

            webbrowser.open(url)
        return url

    def stop(self) -> None:
        """Stop the TensorBoard serving these runs (started here or by another kernel)."""
        registry = self._registry()
        with registry.entries() as entries:
            entry = self._instance
            if entry is None:
                entry = find(entries, *self._logdir(copy=False))
            if entry is None:
                return
            terminate(entry)
            entries[:] = [
                e for e in entries if (e["pid"], e["host"]) != (entry["pid"], entry["host"])
            ]
        self._instance = None
        print(f"Stopped TensorBoard on port {entry['port']} (pid {entry['pid']}).")
        self._say_stopped(int(entry["port"]))

    def _say_stopped(self, port: int) -> None:
        """Replace the iframes shown here: a page that has not loaded yet (Run All reaches
        ``stop()`` first) would show the proxy's "500: Internal Server Error" instead."""
        if not self._shown:
            return
        from IPython.display import HTML

        note = HTML(
            f"<p>TensorBoard stopped (it served {_count(len(self._runs), 'run')} on port "
            f"{port}); <code>start()</code> starts it again.</p>"
        )
        for handle in self._shown:
            if handle is not None:  # None: shown outside IPython, as plain text
                handle.update(note)

    # where it is ------------------------------------------------------------------------------
    @property
    def port(self) -> int | None:
        """The port TensorBoard listens on, or None when not started."""
        return None if self._instance is None else int(self._instance["port"])

    @property
    def pid(self) -> int | None:
        """TensorBoard's process id, or None when not started."""
        return None if self._instance is None else int(self._instance["pid"])

    @property
    def url(self) -> str | None:
        """The URL to open TensorBoard at (see :meth:`start`), or None when not started."""
        return None if self.port is None else tensorboard_url(self.port)

    # in notebooks -----------------------------------------------------------------------------
    def _html(self, height: int = 800) -> str:
        url = self.url
        if url is None:
            return "<p>TensorBoard is not running; <code>start()</code> starts it.</p>"
        where = html.escape(url, quote=True)
        runs = _count(len(self._runs), "run")
        return (
            f'<iframe src="{where}" width="100%" height="{int(height)}" frameborder="0" '
            f'title="TensorBoard"></iframe>\n'
            f"<p>TensorBoard ({runs}, port {self.port}, pid {self.pid}): "
            f'<a href="{where}" target="_blank" rel="noopener">{html.escape(url)}</a></p>'
        )

    def _repr_html_(self) -> str:
        """TensorBoard inline (an iframe) and a link to open it in its own tab."""
        return self._html()

    def _ipython_display_(self) -> None:
        """As :meth:`_repr_html_`, in an output :meth:`stop` can update."""
        from IPython.display import HTML, display

        self._shown.append(display(HTML(self._html()), display_id=True))

    def display(self, height: int = 800) -> None:
        """Show TensorBoard in the notebook; called again, it updates the same output."""
        from IPython.display import HTML, display

        view = HTML(self._html(height))
        if self._display_handle is None:
            self._display_handle = display(view, display_id=True)
            self._shown.append(self._display_handle)
        else:
            self._display_handle.update(view)

    def __repr__(self) -> str:
        runs = _count(len(self._runs), "run")
        if self._instance is None:
            return f"Tensorboard({runs}, not running)"
        return f"Tensorboard({runs}, port {self.port}, pid {self.pid}: {self.url})"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

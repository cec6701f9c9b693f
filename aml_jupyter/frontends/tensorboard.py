"""``Tensorboard``: TensorBoard over runs' ``./logs``, live, shared, and reachable through Jupyter.

Named as Azure ML v1's ``azureml.tensorboard.Tensorboard``::

    tb = Tensorboard([run])   # one named log folder per run
    tb.start()                # the URL; return ``tb`` from a cell to see it inline
    tb.stop()

It runs the real ``tensorboard`` package in its own process, bound to 127.0.0.1 only, with
``--logdir_spec <run id>:<folder>,...``. A submitted run's folder is the ``./logs`` its script
writes to, read live while the run goes on and kept in place when it ends. Other runs (a
notebook run that uploaded ``logs/...``) have their stored ``logs/`` files copied to
``local_root/<run id>/`` first.

One TensorBoard serves each set of runs: the instances live in ``<workspace>/tensorboard/
instances.json`` (pid, port, log folders, start time), and ``start()`` for the same runs,
from any kernel, returns the running one. In a kernel of a Jupyter server the URL goes through
jupyter-server-proxy (``<base_url>proxy/<port>/``), so it works when only Jupyter's port is
reachable: that proxy strips its prefix and TensorBoard's pages use relative links, so no
``--path_prefix`` is needed.
"""

from __future__ import annotations

import contextlib
import html
import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compute.local import liveness, processes
from ..errors import AmlError

if TYPE_CHECKING:
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace

#: TensorBoard listens here only: other machines reach it through Jupyter's proxy.
HOST = "127.0.0.1"
#: Seconds TensorBoard gets to answer before ``start()`` gives up (and stops it).
START_TIMEOUT_S = 30.0
#: How many ports past the asked one ``start()`` tries when they are taken.
PORT_TRIES = 20
#: Set to the start of TensorBoard URLs (``https://host/proxy/``, or with ``{port}``) to
#: override what ``start()`` works out.
URL_PREFIX_ENV = "AML_TENSORBOARD_URL_PREFIX"
INSTALL_HINT = (
    "Install it with `pip install tensorboard` (or `pip install 'aml-jupyter[lab]'`, which "
    "brings TensorBoard and jupyter-server-proxy), then try again."
)

#: TensorBoard processes this Python started, kept so they can be waited for (no zombies).
_children: dict[int, subprocess.Popen[bytes]] = {}
_warned_no_proxy = False


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
        from ..tracking.run import Run
        from ..tracking.workspace import Workspace

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

    # what it serves -------------------------------------------------------------------------
    def _folders(self, copy: bool) -> list[tuple[str, Path]]:
        """``(name, log folder)`` per run; with ``copy``, stored logs are copied out first."""
        from ..status import RunStatus
        from ..tracking.run import SCRIPT_RUN

        folders: list[tuple[str, Path]] = []
        names: set[str] = set()
        for run in self._runs:
            live = run.folder / "work" / "logs"
            # A submitted run that has not started yet gets its live folder soon: watch it.
            if live.is_dir() or (run.type == SCRIPT_RUN and run.get_status() in RunStatus.ACTIVE):
                folder = live
            else:
                folder = self._root() / run.id
                if copy:
                    folder.mkdir(parents=True, exist_ok=True)
                    run.download_files(prefix="logs", output_directory=folder, append_prefix=False)
            name = run.display_name if self._use_display_name else run.id
            # ',' and ':' split --logdir_spec; a leading '/' would make the name a path.
            name = name.replace(",", "_").replace(":", "_").lstrip("/") or run.id
            if name in names:
                name = f"{name}_{run.id}"
            names.add(name)
            folders.append((name, folder))
        return folders

    def _root(self) -> Path:
        if self._local_root is None:
            raise AmlError(
                "Tensorboard([]) serves local_root, and there is no workspace here to default "
                "to: pass local_root='path/to/logs' or some runs."
            )
        return self._local_root

    def _logdir(self, copy: bool) -> tuple[str, str]:
        """TensorBoard's flag and its value: ``--logdir_spec`` for runs, else ``--logdir``."""
        if not self._runs:
            root = self._root()
            if copy:
                root.mkdir(parents=True, exist_ok=True)
            return "--logdir", str(root)
        specs = []
        for name, folder in sorted(self._folders(copy), key=lambda item: str(item[1])):
            if "," in str(folder):
                raise AmlError(
                    f"TensorBoard cannot read a folder whose path has a comma: {folder}. "
                    "Move the workspace to a path without commas."
                )
            specs.append(f"{name}:{folder}")
        return "--logdir_spec", ",".join(specs)

    def _registry(self) -> _Registry:
        if self._ws is not None:
            return _Registry(self._ws.folder / "tensorboard")
        return _Registry(Path(tempfile.gettempdir()) / f"aml-tensorboard-{os.getuid()}")

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
            entry = _find(entries, flag, logdir)
            if entry is not None and not _answers(entry["port"], logdir):
                _terminate(entry)  # ours (pid and start time match) but hung: replace it
                entries.remove(entry)
                entry = None
            if entry is not None:
                ago = _duration(time.time() - entry["start_time"])
                print(
                    f"Reusing TensorBoard on port {entry['port']} (pid {entry['pid']}), "
                    f"started {ago} ago."
                )
            else:
                entry = _launch(flag, logdir, self._port, registry.folder, entries)
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
                entry = _find(entries, *self._logdir(copy=False))
            if entry is None:
                return
            _terminate(entry)
            entries[:] = [
                e for e in entries if (e["pid"], e["host"]) != (entry["pid"], entry["host"])
            ]
        self._instance = None
        print(f"Stopped TensorBoard on port {entry['port']} (pid {entry['pid']}).")

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

    def display(self, height: int = 800) -> None:
        """Show TensorBoard in the notebook; called again, it updates the same output."""
        from IPython.display import HTML, display

        view = HTML(self._html(height))
        if self._display_handle is None:
            self._display_handle = display(view, display_id=True)
        else:
            self._display_handle.update(view)

    def __repr__(self) -> str:
        runs = _count(len(self._runs), "run")
        if self._instance is None:
            return f"Tensorboard({runs}, not running)"
        return f"Tensorboard({runs}, port {self.port}, pid {self.pid}: {self.url})"


# URLs -----------------------------------------------------------------------------------------
def tensorboard_url(port: int) -> str:
    """Where a browser reaches TensorBoard on ``port`` from this kernel's notebook page."""
    prefix = os.environ.get(URL_PREFIX_ENV)
    if prefix:
        return prefix.format(port=port) if "{port}" in prefix else f"{prefix.rstrip('/')}/{port}/"
    proxy = os.environ.get("TENSORBOARD_PROXY_URL")  # what TensorBoard's own %tensorboard reads
    if proxy:
        return proxy.replace("%PORT%", str(port))
    base = jupyter_base_url()
    if base is not None:
        if importlib.util.find_spec("jupyter_server_proxy") is not None:
            return f"{base.rstrip('/')}/proxy/{port}/"
        global _warned_no_proxy
        if not _warned_no_proxy:
            _warned_no_proxy = True
            print(
                "jupyter-server-proxy is not installed, so TensorBoard is reachable only from "
                "this machine. `pip install jupyter-server-proxy` and restart Jupyter to reach "
                "it through Jupyter's port.",
                file=sys.stderr,
            )
    return f"http://{HOST}:{port}/"


def jupyter_base_url() -> str | None:
    """The base URL of the Jupyter server that started this kernel, or None outside one.

    The server is the one whose pid is ``$JPY_PARENT_PID`` among the running servers' info
    files; under JupyterHub ``$JUPYTERHUB_SERVICE_PREFIX`` is the base; a kernel with a
    ``$JPY_SESSION_NAME`` but no readable server info assumes ``/``.
    """
    parent = os.environ.get("JPY_PARENT_PID")
    if parent:
        for info in _running_servers():
            if str(info.get("pid")) == parent:
                return str(info.get("base_url") or "/")
    hub = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    if hub:
        return hub
    return "/" if os.environ.get("JPY_SESSION_NAME") else None


def _running_servers() -> Iterator[dict[str, Any]]:
    """Info of the Jupyter servers in the runtime folder (what ``jupyter server list`` reads)."""
    try:
        from jupyter_core.paths import jupyter_runtime_dir
    except ImportError:
        return
    folder = Path(jupyter_runtime_dir())
    for path in folder.glob("jpserver-*.json"):
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(info, dict):
            yield info


# the instances --------------------------------------------------------------------------------
class _Registry:
    """``instances.json`` in ``folder``: the running TensorBoards, read and written under a lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / "instances.json"

    @contextlib.contextmanager
    def entries(self) -> Iterator[list[dict[str, Any]]]:
        """The live entries (dead ones dropped), locked; changes to the list are saved."""
        import fcntl

        _reap()
        self.folder.mkdir(parents=True, exist_ok=True)
        with open(self.folder / "instances.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one start at a time: no two for the same runs
            try:
                entries = json.loads(self.path.read_text())
            except (OSError, ValueError):
                entries = []
            # Another host's entries stay (a shared folder); we cannot tell if they live.
            entries = [
                e
                for e in entries
                if liveness.is_alive(e["pid"], e["started"], e["host"]) is not False
            ]
            try:
                yield entries
            finally:
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(entries, indent=1))
                os.replace(tmp, self.path)


def _reap() -> None:
    """Wait for the TensorBoards started here that have ended (stopped from another kernel)."""
    for pid, child in list(_children.items()):
        if child.poll() is not None:
            del _children[pid]


def _find(entries: list[dict[str, Any]], flag: str, logdir: str) -> dict[str, Any] | None:
    """This host's entry serving ``logdir``, if any."""
    for entry in entries:
        if (entry["host"], entry["flag"], entry["logdir"]) == (liveness.HOST, flag, logdir):
            return entry
    return None


def _answers(port: int, logdir: str, timeout: float = 2.0) -> bool:
    """True when the TensorBoard on ``port`` answers and serves ``logdir``."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never a web proxy
    try:
        with opener.open(f"http://{HOST}:{port}/data/environment", timeout=timeout) as response:
            return bool(json.loads(response.read())["data_location"] == logdir)
    except (OSError, ValueError, KeyError):
        return False


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as TensorBoard binds
        try:
            probe.bind((HOST, port))
        except OSError:
            return False
    return True


def _free_port(start: int, skip: set[int]) -> int:
    for port in range(start, min(start + PORT_TRIES, 65536)):
        if port not in skip and _port_is_free(port):
            return port
    raise AmlError(
        f"Ports {start}-{start + PORT_TRIES - 1} are all in use; pass another port, "
        "e.g. Tensorboard(runs, port=7006), or stop TensorBoards you no longer need."
    )


def _launch(
    flag: str, logdir: str, port: int, folder: Path, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """Start TensorBoard on the first free port from ``port``; its registry entry once it answers."""
    taken = {int(e["port"]) for e in entries}
    chosen = _free_port(port, taken)
    for _ in range(PORT_TRIES):
        if chosen != port:
            print(f"Port {port} is in use; TensorBoard uses port {chosen}.")
        log_path = folder / f"tensorboard-{chosen}.log"
        command = [
            sys.executable,
            "-m",
            "tensorboard.main",
            flag,
            logdir,
            "--host",
            HOST,
            "--port",
            str(chosen),
            "--load_fast",
            "false",  # the Python loader (--logdir_spec needs it): one process, no data server
        ]
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a kernel restart, as %tensorboard's does
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        _children[proc.pid] = proc
        entry = {
            "pid": proc.pid,
            "started": liveness.process_start_time(proc.pid),
            "host": liveness.HOST,
            "port": chosen,
            "flag": flag,
            "logdir": logdir,
            "start_time": time.time(),
            "log": str(log_path),
        }
        try:
            if _wait_until_answering(proc, chosen, logdir, log_path):
                print(f"TensorBoard started on port {chosen} (pid {proc.pid}).")
                return entry
        except BaseException:
            _terminate(entry)
            raise
        _terminate(entry)  # it could not bind after all (a race): try the next port
        chosen = _free_port(chosen + 1, taken)
    raise AmlError(f"TensorBoard could not bind to a port from {port} on; pass another port.")


def _wait_until_answering(
    proc: subprocess.Popen[bytes], port: int, logdir: str, log_path: Path
) -> bool:
    """True once TensorBoard answers; False if it exited because its port was taken."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if _answers(port, logdir, timeout=1.0):
            return True
        code = proc.poll()
        if code is not None:
            tail = _tail(log_path)
            if "could not bind to port" in tail:
                return False
            raise AmlError(
                f"TensorBoard exited (code {code}) before it answered. Its last lines:\n{tail}"
            )
        if time.monotonic() > deadline:
            raise AmlError(
                f"TensorBoard did not answer on port {port} within {START_TIMEOUT_S:g} s, so it "
                f"was stopped. Its last lines ({log_path}):\n{_tail(log_path) or '(nothing)'}"
            )
        time.sleep(0.2)


def _tail(path: Path, lines: int = 15) -> str:
    try:
        text = path.read_bytes()[-8192:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join([line for line in text.splitlines() if line.strip()][-lines:])


def _terminate(entry: dict[str, Any], grace: float = 5.0) -> None:
    """Stop the TensorBoard of ``entry`` (its whole process group) and wait until it is gone.

    Only a process whose pid and start time match the entry is signalled: never a stranger
    that got the pid later.
    """
    pid = int(entry["pid"])
    child = _children.pop(pid, None)
    if liveness.is_alive(pid, entry["started"], entry["host"]) is True:
        try:
            leads = os.getpgid(pid) == pid
        except OSError:
            leads = False
        if leads:  # it leads its own session: the group holds all it started
            processes.stop_group(pid, grace, entry["started"])
        else:
            processes.stop_tree(pid, grace, entry["started"])
    if child is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):  # stuck in the kernel: leave it
            child.wait(timeout=1.0)  # reap it (if the stop has not)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

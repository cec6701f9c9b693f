"""Run methods v1 notebooks call around a run: ``get_all_logs``, ``get_detailed_status``,
``get_portal_url``, ``take_snapshot``, ``get_secret(s)`` (methods of :class:`aml_jupyter.Run`)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..status import RunStatus
from ..store.run_folder import SYSTEM_LOGS, USER_LOGS
from ..store.types import RunRecord
from . import plugins

if TYPE_CHECKING:
    from .workspace import Workspace

#: What each status means, for ``get_detailed_status`` (v1's words where it had them).
_STATUS_DETAILS = {
    RunStatus.NOT_STARTED: "The run is recorded; its target has not taken it yet.",
    RunStatus.QUEUED: "The run waits for its compute target.",
    RunStatus.PREPARING: "The run's environment is being built.",
    RunStatus.STARTING: "The run's process is starting.",
    RunStatus.RUNNING: "The run's script is running.",
    RunStatus.FINALIZING: "The script is done; its outputs are being kept.",
    RunStatus.CANCEL_REQUESTED: "Cancel was asked; the run's processes are being stopped.",
    RunStatus.COMPLETED: "The run completed.",
    RunStatus.FAILED: "The run failed.",
    RunStatus.CANCELED: "The run was canceled.",
}


class RunV1:
    """``get_all_logs``, ``get_detailed_status``, ``get_portal_url``, ``take_snapshot``."""

    _ws: Workspace
    _id: str

    if TYPE_CHECKING:

        def _current(self) -> RunRecord: ...

        def refresh(self) -> None: ...

        def get_file_names(self) -> list[str]: ...

        def download_file(self, name: str, output_file_path: Any = None) -> str: ...

    def get_all_logs(self, destination: str | os.PathLike[str] | None = None) -> list[str]:
        """Copy every log of the run (``user_logs/``: the driver log and each process's,
        the environment build's; ``system_logs/``) into ``destination`` (default: a folder
        named as the run id, here), keeping their names; the paths written."""
        out = Path(destination if destination is not None else self._id)
        names = [n for n in self.get_file_names() if n.split("/", 1)[0] in (USER_LOGS, SYSTEM_LOGS)]
        written = []
        for name in names:
            target = out / name
            target.parent.mkdir(parents=True, exist_ok=True)
            written.append(self.download_file(name, target))
        return written

    def get_detailed_status(self) -> dict[str, Any]:
        """``{'status': ..., 'details': ...}`` as v1: the status and what it means now (a
        failed run's error message)."""
        record = self._current()
        details = _STATUS_DETAILS.get(record.status, "")
        if record.error and record.error.get("message"):
            details = f"{details} {record.error['message']}".strip()
        return {"status": record.status, "details": details}

    def get_portal_url(self) -> str:
        """A link that opens this run's panel in JupyterLab (``<server>lab?aml-run=<id>``),
        on the running Jupyter server that serves this workspace (or this folder). With no
        such server: a sentence saying how to open the run instead (v1 pointed at the Azure
        portal; there is none). The link carries no token: the browser is already signed in."""
        url = plugins.load("run_url")(self._ws.folder, self._id)
        if url:
            return str(url)
        return (
            f"No running Jupyter server serves this workspace: start `jupyter lab` in "
            f"{self._ws.folder.parent} and open the run from the AML sidebar, or run "
            f"`aml run show {self._id}`."
        )

    def take_snapshot(self, file_or_folder_path: str | os.PathLike[str]) -> str:
        """Store a file or a folder (the submit rules: ``.amlignore``/``.gitignore``, the
        limits) as a snapshot and return its id. A run that had none gets it as its snapshot
        (``get_snapshot_id``, ``restore_snapshot``); else ``restore_snapshot(snapshot_id=...)``
        restores it."""
        from ..snapshot.snapshot import take_snapshot

        path = Path(file_or_folder_path).expanduser()
        if path.is_file():
            with tempfile.TemporaryDirectory() as empty:
                snapshot = take_snapshot(
                    self._ws.store, empty, extra_files={path.name: path.read_bytes()}
                )
        elif path.is_dir():
            snapshot = take_snapshot(self._ws.store, path)
        else:
            raise AmlError(
                f"take_snapshot: {os.fspath(file_or_folder_path)!r} is no file or folder."
            )
        if not self._current().snapshot_id:
            self._ws.store.update_run(self._id, snapshot_id=snapshot.id)
            self._ws.store.add_properties(self._id, {"ContentSnapshotId": snapshot.id})
            self.refresh()
        return snapshot.id

    def get_secret(self, name: str) -> str:
        """The value of the workspace's secret ``name`` (``ws.get_default_keyvault()``), for
        the run's code: never printed or logged by us. On a compute instance or a Ray
        cluster: the workspace's secrets as they were when the run was submitted (see
        :mod:`aml_jupyter.tracking.run_secrets`)."""
        from .keyvault import Keyvault

        return Keyvault(self._ws).get_secret(name)

    def get_secrets(self, secrets: list[str]) -> dict[str, str]:
        """``{name: value}`` of the workspace's secrets named in ``secrets``."""
        from .keyvault import Keyvault

        return Keyvault(self._ws).get_secrets(secrets)

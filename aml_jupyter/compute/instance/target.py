"""The ``compute-instance`` target: a workstation running ``aml instance serve``.

``ComputeInstance.attach(ws, "gpu-box", "http://10.0.0.5:8790", token)`` (or
``aml compute attach gpu-box --address ... --token-file ...``) checks the agent answers and
registers it; then ``ScriptRunConfig(compute_target="gpu-box")`` or ``%aml_submit -t gpu-box``
runs there. Submitting uploads only the snapshot files the agent lacks (content-addressed),
starts the run under the same id on the agent, and starts a detached mirror here
(:mod:`aml_jupyter.compute.remote`) that pulls status, logs, metrics and outputs back.
Nothing the agent answers is trusted: names, hashes and states are checked
(:mod:`aml_jupyter.compute.untrusted`) and a blob is kept only if its bytes have its hash.
"""

from __future__ import annotations

import base64
import binascii
import os
from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...store.run_folder import MIRRORED
from .. import ComputeTarget, check_target_name
from ..remote import (
    RemoteGone,
    RemoteState,
    RemoteUnreachable,
    append_chunk,
    local_sizes,
)
from ..untrusted import checked_files, checked_state
from .client import AgentClient

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...store.run_folder import RunFolder
    from ...tracking.workspace import Workspace

KIND = "ComputeInstance"
#: Longest wait of one sync: the agent answers sooner when anything changed.
LONG_POLL_S = 1.0


class _AgentRemote:
    """:class:`~aml_jupyter.compute.remote.Remote` for a run on an agent."""

    def __init__(self, client: AgentClient, run_id: str, target: str) -> None:
        self.client = client
        self.run_id = run_id
        self.where = f"compute instance {target!r} ({client.address})"
        self.pause = 0.0  # sync long-polls
        self._files: list[tuple[str, str, int]] = []
        self._seen: str | None = None

    def sync(self, folder: RunFolder) -> RemoteState:
        wait = LONG_POLL_S  # the agent answers at once when anything changed
        while True:
            answer = self.client.sync(
                self.run_id, local_sizes(folder.root, MIRRORED), self._seen, wait
            )
            state = checked_state(answer, self.where)
            chunks = answer.get("chunks")
            if not isinstance(chunks, dict):
                raise RemoteGone(f"The {self.where} sent file bytes that are not an object.")
            for name, data in chunks.items():
                append_chunk(folder.root, name, self._decoded(name, data), MIRRORED, self.where)
            self._seen = state.status
            if not answer.get("more"):
                break
            wait = 0
        files = answer.get("files")
        self._files = checked_files(files, self.where) if files is not None else []
        return state

    def _decoded(self, name: Any, data: Any) -> bytes:
        try:
            return base64.b64decode(data, validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise RemoteGone(
                f"The {self.where} sent bytes for {name!r} that are not base64."
            ) from None

    def cancel(self) -> None:
        self.client.cancel(self.run_id)

    def collect(self, ws: Workspace, run_id: str) -> None:
        rows = []
        for name, sha, size in self._files:  # checked in sync()
            if sha not in ws.blobs:
                self.client.download(ws, sha, size)
            rows.append((name, sha, ws.blobs.size(sha)))
        ws.store.add_files(run_id, rows)


class ComputeInstance(ComputeTarget):
    """A workstation running ``aml instance serve``, attached to this workspace."""

    @staticmethod
    def attach(
        workspace: Workspace,
        name: str,
        address: str,
        token: str,
        ca_file: str | None = None,
    ) -> ComputeInstance:
        """Check the agent at ``address`` answers with ``token``, then register it as ``name``.

        The token is kept in the workspace folder (mode 600), not in its database.
        """
        check_target_name(name)
        client = AgentClient(address, token, ca_file, timeout=10.0)
        try:
            client.info()
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot attach {name!r}: {exc}") from None
        secret = workspace.folder / "compute" / f"{name}.token"
        secret.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(secret, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(token)
        config = {"address": client.address, "ca_file": ca_file}
        workspace.store.attach_compute_target(name, KIND, config)
        return ComputeInstance(workspace, name)

    def client(self, timeout: float = 30.0) -> AgentClient:
        """The HTTP client of this instance's agent: one per target object, its connections
        kept alive across requests (and shared by every ``timeout``)."""
        agent: AgentClient | None = self.__dict__.get("_agent")
        if agent is None:
            secret = self.workspace.folder / "compute" / f"{self.name}.token"
            try:
                token = secret.read_text().strip()
            except OSError:
                raise AmlError(
                    f"The token of compute target {self.name!r} is missing ({secret}); "
                    "attach it again."
                ) from None
            agent = AgentClient(self.config["address"], token, self.config.get("ca_file"))
            self._agent = agent
        return agent.with_timeout(timeout)

    def get_status(self) -> str:
        """``Running`` when the agent answers, else ``Unreachable``."""
        try:
            self.client(timeout=3.0).info()
        except AmlError:
            return "Unreachable"
        return "Running"

    def get(self) -> dict[str, Any]:
        """What the agent says about itself (version, host, folder, Python, CPUs)."""
        return self.client().info()

    # A submit (compute/submission.py): upload the snapshot's new files, start the run on the
    # agent under our run id, and follow it from here with a mirror.
    _owner_module = "aml_jupyter.compute.instance.mirror"

    def _check(self, definition: dict[str, Any]) -> None:
        try:
            self.client().info()  # the agent builds the environment, not this machine
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None

    def _prepare(self, snapshot: Snapshot, definition: dict[str, Any]) -> None:
        from .progress import UploadProgress

        progress = UploadProgress(self.name)
        try:
            shas = [snapshot.id, *(f.sha256 for f in snapshot.files)]
            self.client().upload(self.workspace, shas, progress=progress)
        finally:
            progress.close()

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        try:
            self.client().start_run(run_id, experiment, snapshot.id, definition, tags)
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None

    def _remote(self, run_id: str) -> _AgentRemote:
        return _AgentRemote(self.client(), run_id, self.name)


__all__ = ["AgentClient", "ComputeInstance"]

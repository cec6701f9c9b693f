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

from ...errors import AmlError, ComputeTargetException
from ...store.run_folder import MIRRORED
from .. import ComputeTarget, check_target_name
from ..compute_status import ComputeStatus
from ..remote import (
    RemoteGone,
    RemoteState,
    RemoteUnreachable,
    append_chunk,
    local_sizes,
)
from ..untrusted import checked_files, checked_state
from .client import AgentClient
from .provisioned import KIND

if TYPE_CHECKING:
    from ...snapshot.snapshot import Snapshot
    from ...store.run_folder import RunFolder
    from ...tracking.workspace import Workspace

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

    @staticmethod
    def provisioning_configuration(
        vm_size: str = "",
        ssh_public_access: bool = False,
        admin_user_ssh_public_key: str | None = None,
        vnet_resourcegroup_name: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        tags: dict[str, str] | None = None,
        description: str | None = None,
        assigned_user_object_id: str | None = None,
        assigned_user_tenant_id: str | None = None,
    ) -> Any:
        """v1's signature: ``ComputeTarget.create(ws, name, config)`` then starts an agent on
        this machine (see :mod:`.provisioned`); ssh and network settings have no meaning here."""
        from .provisioned import ComputeInstanceProvisioningConfiguration

        return ComputeInstanceProvisioningConfiguration(vm_size, tags, description)

    @property
    def _managed(self) -> bool:
        return bool(self.config.get("managed"))

    @property
    def vm_size(self) -> str | None:
        return self.config.get("vm_size")

    def get_status(self) -> ComputeStatus:
        """``Running`` when the agent answers; ``Stopped`` for one of ours that ``stop()``
        stopped; else ``Unreachable``. Also v1's ``ComputeInstanceStatus`` fields."""
        fields = {"vm_size": self.vm_size, "errors": None}
        if self._managed:
            from .provisioned import AgentFiles

            if not AgentFiles(self.workspace.folder, self.name).alive():
                return ComputeStatus("Stopped", **fields)
        try:
            self.client(timeout=3.0).info()
        except AmlError as exc:
            return ComputeStatus("Unreachable", **{**fields, "errors": [{"message": str(exc)}]})
        return ComputeStatus("Running", **fields)

    @property
    def status(self) -> ComputeStatus:
        """v1's ``status`` attribute: :meth:`get_status` now."""
        return self.get_status()

    def wait_for_completion(
        self, show_output: bool = False, is_delete_operation: bool = False, **_: Any
    ) -> None:
        """The agent answers once ``create``/``start`` return; says its state."""
        if show_output:
            print(f"{self.get_status()}\nComputeInstance wait for completion finished")

    def _own_agent(self, what: str) -> Any:
        if not self._managed:
            raise ComputeTargetException(
                f"{self.name!r} is an attached agent this package did not start; {what} it "
                "where it runs (`aml instance serve`)."
            )
        from . import provisioned

        return provisioned

    def _refuse_if_busy(self, what: str) -> None:
        active = self._active_runs()
        if active:
            raise ComputeTargetException(
                f"Cannot {what} compute instance {self.name!r}: {len(active)} run(s) on it are "
                f"active ({', '.join(r.id for r in active[:3])}); wait for them or cancel them."
            )

    def stop(self, wait_for_completion: bool = False, show_output: bool = False) -> None:
        """Stop the agent (the target stays, ``Stopped``); refused while runs are active."""
        provisioned = self._own_agent("stop")
        self._refuse_if_busy("stop")
        provisioned.stop_agent(self.workspace.folder, self.name)
        if show_output:
            print(f"Stopped compute instance {self.name!r}")

    def start(self, wait_for_completion: bool = False, show_output: bool = False) -> None:
        """Start the agent again (a new port); nothing when it runs already."""
        provisioned = self._own_agent("start")
        if provisioned.AgentFiles(self.workspace.folder, self.name).alive():
            return
        address = provisioned.start_agent(self.workspace.folder, self.name, self.config)
        self.config["address"] = address
        self.workspace.store.attach_compute_target(self.name, KIND, self.config)
        self.__dict__.pop("_agent", None)
        if show_output:
            print(f"Started compute instance {self.name!r} at {address}")

    def restart(self, wait_for_completion: bool = False, show_output: bool = False) -> None:
        """``stop()`` then ``start()``."""
        self.stop()
        self.start(show_output=show_output)

    def delete(self) -> None:
        """Stop the agent this package started and forget the target and the agent's folder
        (an attached one: forgotten only, as ``detach``); refused while runs are active."""
        if not self._managed:
            self.detach()
            return
        import shutil

        from . import provisioned

        self._refuse_if_busy("delete")
        provisioned.stop_agent(self.workspace.folder, self.name)
        self.detach()
        files = provisioned.AgentFiles(self.workspace.folder, self.name)
        shutil.rmtree(files.folder, ignore_errors=True)
        files.log.unlink(missing_ok=True)

    def get(self) -> dict[str, Any]:
        """What the agent says about itself (version, host, folder, Python, CPUs)."""
        return self.client().info()

    # A submit (compute/submission.py): upload the snapshot's new files, start the run on the
    # agent under our run id, and follow it from here with a mirror.
    _owner_module = "aml_jupyter.compute.instance.mirror"

    def _check(self, definition: dict[str, Any]) -> None:
        if self._managed and str(self.get_status()) == "Stopped":
            raise ComputeTargetException(
                f"Compute instance {self.name!r} is Stopped: start it with "
                f"ComputeTarget(workspace=ws, name={self.name!r}).start(), then submit."
            )
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
        from ..remote_data import send_to_agent

        send_to_agent(self.workspace, self.client(), definition)  # datasets: grants, files

    def _start(
        self,
        run_id: str,
        experiment: str,
        snapshot: Snapshot,
        definition: dict[str, Any],
        tags: dict[str, Any] | None,
    ) -> None:
        from ..local.sealed_secrets import request_field, seal_for_run

        secrets = request_field(seal_for_run(self.workspace, run_id))  # the key vault, sealed
        try:
            self.client().start_run(run_id, experiment, snapshot.id, definition, tags, secrets)
        except (RemoteGone, RemoteUnreachable) as exc:
            raise AmlError(f"Cannot submit to {self.name!r}: {exc}") from None

    def _remote(self, run_id: str) -> _AgentRemote:
        return _AgentRemote(self.client(), run_id, self.name)


__all__ = ["AgentClient", "ComputeInstance"]

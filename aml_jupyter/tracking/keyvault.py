"""``ws.get_default_keyvault()``: v1's ``Keyvault``, kept encrypted in the workspace (see
:mod:`aml_jupyter.store.secrets` for how and where the key is), and ``run.get_secret``.

How a run reads it, by target:

* ``local``: ``run.get_secret`` reads this vault as it is now.
* ``compute-instance`` and ``cluster`` (Ray): the script runs against the node's own workspace,
  so at submit the vault is sealed for that run (one token under a fresh per-run key) and sent
  with it: to the agent in the submit request, to Ray as a package of the job with the key in
  its runtime_env. The script reads that copy (:mod:`aml_jupyter.tracking.run_secrets`): the
  secrets as they were at submit (one set after the submit is not seen by that run); the copy
  is deleted when the run ends. Details and where the line is drawn:
  :mod:`aml_jupyter.compute.local.sealed_secrets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from . import run_secrets

if TYPE_CHECKING:
    from .workspace import Workspace


class Keyvault:
    """The workspace's secrets, by name. Values are never printed, logged or served by the
    REST API; only :meth:`get_secret` (and ``run.get_secret``) return them."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    @property
    def name(self) -> str:
        """A name for the vault: the workspace's."""
        return f"{self.workspace.name}-keyvault"

    def _sealed(self) -> dict[str, str] | None:
        """In a remote run's script, the vault's copy sealed for the run (else None)."""
        return run_secrets.sealed_for(self.workspace)

    def _refuse_in_remote_run(self) -> None:
        if run_secrets.in_remote_run(self.workspace):
            raise run_secrets.refuse_change()

    def set_secret(self, name: str, value: str) -> None:
        """Add or replace one secret."""
        self._refuse_in_remote_run()
        self.workspace.store.set_secrets({name: value})

    def set_secrets(self, secrets_batch: dict[str, str]) -> None:
        """Add or replace several secrets at once (all or nothing)."""
        self._refuse_in_remote_run()
        self.workspace.store.set_secrets(secrets_batch)

    def get_secret(self, name: str) -> str:
        """The value of secret ``name`` (an :class:`AmlError` when there is none)."""
        sealed = self._sealed()
        if sealed is not None:
            return run_secrets.sealed_secret(sealed, name)
        value = self.workspace.store.get_secret(name)
        if value is None:
            raise AmlError(
                f"No secret named {name!r} in workspace {self.workspace.name!r}; "
                "ws.get_default_keyvault().list_secrets() lists their names."
            )
        return value

    def get_secrets(self, secrets: list[str]) -> dict[str, str]:
        """``{name: value}`` for each name given (an unknown one is an :class:`AmlError`)."""
        return {name: self.get_secret(name) for name in secrets}

    def list_secrets(self) -> list[dict[str, Any]]:
        """``[{'name': ...}]`` for every secret, as v1 (names only, never values)."""
        sealed = self._sealed()
        names = sorted(sealed) if sealed is not None else self.workspace.store.secret_names()
        return [{"name": n} for n in names]

    def delete_secret(self, name: str) -> None:
        """Forget one secret (an unknown name is an :class:`AmlError`, as v1)."""
        self._refuse_in_remote_run()
        if name not in self.workspace.store.secret_names():
            raise AmlError(f"No secret named {name!r} to delete.")
        self.workspace.store.delete_secrets([name])

    def delete_secrets(self, secrets: list[str]) -> None:
        """Forget several secrets (unknown names are ignored)."""
        self._refuse_in_remote_run()
        self.workspace.store.delete_secrets(secrets)

    def __repr__(self) -> str:
        return f"Keyvault(workspace={self.workspace.name!r}, secrets={len(self.list_secrets())})"

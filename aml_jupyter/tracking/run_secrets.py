"""``run.get_secret`` in a run's script: the workspace's key vault, or the copy sealed for the run.

A run on this machine reads the workspace's key vault as it is now. A run on a compute
instance or a Ray cluster reads the copy its submitter sealed for it at submit (see
:mod:`aml_jupyter.compute.local.sealed_secrets`): its owner on the node sets :data:`SECRETS_ENV` (the
token file, or "" when the workspace had no secrets) and :data:`FD_ENV` (``<fd>:<inode>`` of a
pipe holding the key). The first read takes the key from the pipe, closes it, opens the token
and keeps the secrets in this process's memory only; a process forked after that has them
too, one started afresh does not (it is told so). ``run.get_secret`` and the node workspace's
``get_default_keyvault()`` (``get_secret(s)``, ``list_secrets``) read that copy; changing it
is refused (it would change nothing where the run came from).
"""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import AmlError
from ..store.secrets import check_secret_name

if TYPE_CHECKING:
    from .workspace import Workspace

#: The sealed token's path in a remote run's script ("": the workspace had no secrets).
SECRETS_ENV = "AML_RUN_SECRETS"
#: ``<fd>:<inode>`` of the pipe holding the token's key, in a remote run's script.
FD_ENV = "AML_RUN_SECRETS_FD"
_MAX_KEY_BYTES = 256

_lock = threading.Lock()
_opened: dict[str, dict[str, str]] = {}  # token path -> secrets, once read


def _read_key(spec: str) -> bytes:
    """The key from the pipe ``spec`` names, read to its end and closed."""
    fd_text, _, inode = spec.partition(":")
    try:
        fd = int(fd_text)
        same = stat.S_ISFIFO(os.fstat(fd).st_mode) and os.fstat(fd).st_ino == int(inode)
    except (ValueError, OSError):
        same = False
    if not same:  # not the pipe given to the script: never read some other file's bytes
        raise AmlError(
            "This process has no key to the run's secrets: only the run's script process gets "
            "it (not a process it starts afresh, nor a docker container). Read the secrets in "
            "the script and pass them on."
        )
    key = b""
    try:
        while len(key) <= _MAX_KEY_BYTES and (piece := os.read(fd, 128)):
            key += piece
    finally:
        os.close(fd)
    if not key:
        raise AmlError(
            "The run's secrets key was read already by another process of this run (one "
            "forked before the first get_secret); read the secrets in the script first."
        )
    return key.strip()


def sealed_for(ws: Workspace) -> dict[str, str] | None:
    """The secrets sealed for this run when ``ws`` is the node's workspace this remote run's
    script runs in; None elsewhere (the workspace's own key vault is the one to read)."""
    path = os.environ.get(SECRETS_ENV)
    if path is None or not in_remote_run(ws):
        return None
    with _lock:
        if path in _opened:
            return _opened[path]
        if not path:
            _opened[path] = {}
            return _opened[path]
        from ..store.sealed_secrets import unseal

        key = _read_key(os.environ.get(FD_ENV, ""))
        os.environ.pop(FD_ENV, None)  # the pipe is closed: nothing for children to try
        try:
            with open(path, "rb") as f:
                token = f.read(64 << 20)
        except OSError as exc:
            raise AmlError(
                f"This run's sealed secrets ({path}) cannot be read: {exc.strerror}. The file "
                "is deleted when the run ends; submit the run again."
            ) from None
        run_id = os.environ.get("AML_RUN_ID", "")
        _opened[path] = unseal(token, key, run_id)
        return _opened[path]


def in_remote_run(ws: Workspace) -> bool:
    """Whether this is a remote run's script and ``ws`` the node's workspace it runs in."""
    folder = os.environ.get("AML_WORKSPACE")
    if os.environ.get(SECRETS_ENV) is None or folder is None:
        return False
    try:
        return Path(folder).resolve() == ws.folder.resolve()
    except OSError:
        return False


def sealed_secret(sealed: dict[str, str], name: str) -> str:
    """Secret ``name`` of a run's sealed copy, or the :class:`AmlError` the vault gives."""
    check_secret_name(name)
    if name not in sealed:
        raise AmlError(
            f"No secret named {name!r} in the key vault of the workspace this run was "
            "submitted from, as it was at submit (a secret set since is not seen by this run); "
            "ws.get_default_keyvault().list_secrets() lists their names."
        )
    return sealed[name]


def refuse_change() -> AmlError:
    """What changing the key vault inside a remote run says."""
    return AmlError(
        "In a run on a compute instance or a Ray cluster the key vault is the copy sealed for "
        "the run at submit, read-only: set or delete secrets in the workspace it came from."
    )

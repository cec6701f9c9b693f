"""A run's sealed secrets: the workspace's key vault, encrypted for one run on another machine.

A run on a compute instance or a Ray cluster runs against a workspace of the node's own, which
has no key vault. At submit the submitter seals the workspace's secrets for that run: one
Fernet token (AES-128-CBC + HMAC-SHA256, the ``cryptography`` package) under a fresh key made
for that run alone, over ``{"format", "run", "secrets"}``. The token travels with the run (in
the agent's submit request; in a package of the Ray job) and the key by another way (see
:mod:`aml_jupyter.compute.local.sealed_secrets`), so neither alone gives a value away. The token
names its run: a token sent with another run does not open as that run's.

What comes back out of :func:`unseal` was read from the node's disk: it is checked (names as
the key vault allows them, values strings of the vault's limit) before anything uses it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from ..errors import AmlError
from .secrets import MAX_SECRET_CHARS, check_secret_name

#: Changes when the sealed layout does (an old node refuses a new token rather than misread it).
FORMAT = "aml-sealed-secrets-1"
#: Most secrets one run carries (Key Vault's own vaults held far fewer in practice).
MAX_SECRETS = 1000


def _fernet(key: str | bytes) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:  # a run's own environment without it
        raise AmlError(
            "This run's secrets need the 'cryptography' package, which its Python lacks: add "
            "it to the environment's pip packages."
        ) from None
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise AmlError(
            "This run's secrets key is not a Fernet key (it was damaged on the way); submit "
            "the run again."
        ) from None


def seal(secrets: Mapping[str, str], run_id: str) -> tuple[str, bytes]:
    """``(key, token)``: ``secrets`` encrypted for run ``run_id`` under a fresh key."""
    from cryptography.fernet import Fernet

    if len(secrets) > MAX_SECRETS:
        raise AmlError(f"A run carries at most {MAX_SECRETS} secrets; this workspace has more.")
    key = Fernet.generate_key()
    body = {"format": FORMAT, "run": run_id, "secrets": dict(secrets)}
    return key.decode(), _fernet(key).encrypt(json.dumps(body).encode())


def unseal(token: bytes, key: str | bytes, run_id: str) -> dict[str, str]:
    """The secrets sealed in ``token`` for run ``run_id``; an :class:`AmlError` saying what
    is wrong for anything else (another key, another run, a damaged or foreign file)."""
    from cryptography.fernet import InvalidToken

    fernet = _fernet(key)
    try:
        body = json.loads(fernet.decrypt(bytes(token)))
    except InvalidToken:
        raise AmlError(
            "This run's sealed secrets do not open with its key (the file was changed or "
            "belongs to another run); submit the run again."
        ) from None
    except (ValueError, TypeError, RecursionError):  # decrypted, but not our JSON
        raise AmlError("This run's sealed secrets are not in a form this version reads.") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise AmlError(
            "This run's sealed secrets are in a form this version does not read; use the same "
            "aml_jupyter version on both sides."
        )
    if body.get("run") != run_id:
        raise AmlError(
            f"The sealed secrets here were made for another run, not {run_id!r}; submit again."
        )
    secrets = body.get("secrets")
    if not isinstance(secrets, dict) or len(secrets) > MAX_SECRETS:
        raise AmlError("This run's sealed secrets hold no list of secrets; submit again.")
    clean: dict[str, str] = {}
    for name, value in secrets.items():
        check_secret_name(name)
        if not isinstance(value, str) or len(value) > MAX_SECRET_CHARS:
            raise AmlError(f"Sealed secret {name!r} is not a string of at most the vault's size.")
        clean[name] = value
    return clean

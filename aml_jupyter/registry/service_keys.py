"""A service's two keys (v1's key auth): made, kept, replaced, and checked by their hash.

The keys are kept encrypted among the workspace's secrets (the store's Fernet-encrypted
secrets, as ``ws.get_default_keyvault()``'s: never plain text on disk), under
``aml-service-<name>-keys``; the service and its record get only their SHA-256 hashes, so
neither its spec (the REST API shows it), its log nor ``docker inspect`` shows a key. A
request's key is checked by comparing hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
from typing import TYPE_CHECKING

from ..errors import WebserviceException

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

_SLOTS = ("Primary", "Secondary")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _secret(name: str) -> str:
    return f"aml-service-{name}-keys"


def _write(ws: Workspace, name: str, keys: list[str]) -> list[str]:
    ws.store.set_secrets({_secret(name): json.dumps(keys)})
    return [key_hash(k) for k in keys]


def new_keys(ws: Workspace, name: str) -> list[str]:
    """Make and keep two random keys for service ``name``; their hashes."""
    return _write(ws, name, [secrets.token_urlsafe(32) for _ in _SLOTS])


def load_keys(ws: Workspace, name: str) -> tuple[str, str]:
    try:
        keys = json.loads(ws.store.get_secret(_secret(name)) or "")
        return str(keys[0]), str(keys[1])
    except (ValueError, IndexError, TypeError, KeyError):
        raise WebserviceException(
            f"The keys of service {name!r} are missing; make new ones with "
            "service.regen_key('Primary') and regen_key('Secondary')."
        ) from None


def replace_key(ws: Workspace, name: str, slot: str, value: str | None) -> list[str]:
    """Replace one key; the hashes of both."""
    if slot not in _SLOTS:
        raise WebserviceException(f"key must be 'Primary' or 'Secondary', got {slot!r}.")
    if value is not None and (not isinstance(value, str) or len(value) < 16):
        raise WebserviceException("set_key must be a string of at least 16 characters.")
    try:
        keys = list(load_keys(ws, name))
    except WebserviceException:
        keys = [secrets.token_urlsafe(32) for _ in _SLOTS]
    keys[_SLOTS.index(slot)] = value or secrets.token_urlsafe(32)
    return _write(ws, name, keys)


def forget_keys(ws: Workspace, name: str) -> None:
    ws.store.delete_secrets([_secret(name)])


def authorized(header: str | None, hashes: list[str]) -> bool:
    """Whether an ``Authorization: Bearer KEY`` header carries one of the keys."""
    if not header or not header.startswith("Bearer "):
        return False
    got = key_hash(header[len("Bearer ") :].strip())
    return any(hmac.compare_digest(got, h) for h in hashes)


__all__ = ["authorized", "forget_keys", "key_hash", "load_keys", "new_keys", "replace_key"]

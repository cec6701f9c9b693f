"""A service's two keys (v1's key auth): made, kept, replaced, and checked by their hash.

The keys themselves are kept in one file of the service's folder, readable by its owner only
(mode 600, as the compute targets' tokens); the service and its record get only their SHA-256
hashes, so neither its spec (the REST API shows it), its log nor ``docker inspect`` shows a
key. A request's key is checked by comparing hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from typing import TYPE_CHECKING

from ..errors import WebserviceException

if TYPE_CHECKING:
    from ..store.service_folder import ServiceFolder

_SLOTS = ("Primary", "Secondary")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def _write(files: ServiceFolder, keys: list[str]) -> list[str]:
    path = files.root / "keys.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(keys, f)
    os.replace(partial, path)
    return [key_hash(k) for k in keys]


def new_keys(files: ServiceFolder) -> list[str]:
    """Make and keep two random keys; their hashes."""
    return _write(files, [secrets.token_urlsafe(32) for _ in _SLOTS])


def load_keys(files: ServiceFolder) -> tuple[str, str]:
    try:
        keys = json.loads((files.root / "keys.json").read_text())
        return str(keys[0]), str(keys[1])
    except (OSError, ValueError, IndexError, TypeError):
        raise WebserviceException(
            f"The keys of service {files.root.name!r} are missing ({files.root / 'keys.json'}); "
            "make new ones with service.regen_key('Primary') and regen_key('Secondary')."
        ) from None


def replace_key(files: ServiceFolder, slot: str, value: str | None) -> list[str]:
    """Replace one key; the hashes of both."""
    if slot not in _SLOTS:
        raise WebserviceException(f"key must be 'Primary' or 'Secondary', got {slot!r}.")
    if value is not None and (not isinstance(value, str) or len(value) < 16):
        raise WebserviceException("set_key must be a string of at least 16 characters.")
    try:
        keys = list(load_keys(files))
    except WebserviceException:
        keys = [secrets.token_urlsafe(32) for _ in _SLOTS]
    keys[_SLOTS.index(slot)] = value or secrets.token_urlsafe(32)
    return _write(files, keys)


def forget_keys(files: ServiceFolder) -> None:
    (files.root / "keys.json").unlink(missing_ok=True)


def authorized(header: str | None, hashes: list[str]) -> bool:
    """Whether an ``Authorization: Bearer KEY`` header carries one of the keys."""
    if not header or not header.startswith("Bearer "):
        return False
    got = key_hash(header[len("Bearer ") :].strip())
    return any(hmac.compare_digest(got, h) for h in hashes)


__all__ = ["authorized", "forget_keys", "key_hash", "load_keys", "new_keys", "replace_key"]

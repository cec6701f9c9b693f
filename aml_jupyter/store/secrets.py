"""The embedded store's key vault: secrets encrypted with Fernet (AES-128-CBC + HMAC-SHA256,
from the ``cryptography`` package), the key in a file outside the workspace.

Only tokens are in the workspace (the ``secrets`` table of ``aml.db``). The key is
``<key folder>/<workspace id>.key``, mode 0600 in a 0700 folder; the key folder is
``$AML_SECRETS_KEY_DIR``, else ``$XDG_CONFIG_HOME/aml_jupyter/keys``, else
``~/.config/aml_jupyter/keys``. So a workspace folder that is copied, backed up or shared
carries no readable secret; on another machine (or for another user) its secrets read only
once that key file is copied there. Each token holds the secret's name with its value, so a
token moved to another row does not decrypt as that row's secret.
"""

from __future__ import annotations

import json
import os
import re
import stat
import time
import uuid
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import AmlError
from .database import Database

KEY_DIR_ENV = "AML_SECRETS_KEY_DIR"
#: Key Vault's rule for secret names: 1-127 letters, digits and dashes.
_NAME = re.compile(r"^[A-Za-z0-9-]{1,127}$")
#: Key Vault held at most 25 KB a secret.
MAX_SECRET_CHARS = 25_000


def key_folder() -> Path:
    """Where this user's workspace keys are kept (see the module's docstring)."""
    if os.environ.get(KEY_DIR_ENV):
        return Path(os.environ[KEY_DIR_ENV]).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "aml_jupyter" / "keys"


def check_secret_name(name: Any) -> str:
    """A secret name as Key Vault allowed them, or an :class:`AmlError`."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise AmlError(
            f"Secret name {name!r:.80} is not allowed: use 1-127 letters, digits and '-' "
            "(e.g. 'db-password')."
        )
    return name


def _check_value(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise AmlError(
            f"The value of secret {name!r} must be a string, got {type(value).__name__}."
        )
    if len(value) > MAX_SECRET_CHARS:
        raise AmlError(f"Secret {name!r} is over {MAX_SECRET_CHARS:,} characters.")
    return value


class SecretStore:
    """``set_secrets``, ``get_secret``, ``secret_names``, ``delete_secrets``."""

    db: Database

    def _workspace_id(self) -> str:
        self.db.execute(
            "INSERT OR IGNORE INTO workspace_settings (key, value) VALUES ('id', ?)",
            (str(uuid.uuid4()),),
        )
        row = self.db.query_one("SELECT value FROM workspace_settings WHERE key = 'id'")
        assert row is not None
        return str(row["value"])

    def _key_path(self) -> Path:
        return key_folder() / f"{self._workspace_id()}.key"

    def _fernet(self, create: bool) -> Any:
        try:
            from cryptography.fernet import Fernet
        except ImportError:  # a run's own environment without it
            raise AmlError(
                "Secrets need the 'cryptography' package, which this Python lacks: add it to "
                "the environment's pip packages (aml_jupyter depends on it elsewhere)."
            ) from None
        path = self._key_path()
        if not path.exists():
            if not create:
                raise AmlError(
                    f"This workspace's secrets were encrypted with a key this machine does not "
                    f"have ({path}). Copy that file here from where they were set (mode 0600), "
                    "or set the secrets again."
                )
            _write_new_key(path, Fernet.generate_key())
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise AmlError(
                f"The secrets key {path} can be read by other users; make it yours only "
                f"(chmod 600 {path}) and set the secrets again if others may have read it."
            )
        return Fernet(path.read_bytes().strip())

    def set_secrets(self, secrets: Mapping[str, str]) -> None:
        """Encrypt and keep secrets (all or nothing); a name set again is replaced."""
        if not isinstance(secrets, Mapping):
            raise AmlError(f"Secrets are given as a dict, got {type(secrets).__name__}.")
        rows = self._secret_rows(secrets)
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO secrets (name, token, updated_utc) VALUES (?, ?, ?)", rows
            )

    def _secret_rows(self, secrets: Mapping[str, str]) -> list[tuple[str, bytes, float]]:
        """``(name, token, updated_utc)`` rows for the ``secrets`` table: checked, encrypted
        (for writers that keep secrets in the same transaction as other rows)."""
        clean = {check_secret_name(k): _check_value(k, v) for k, v in secrets.items()}
        fernet = self._fernet(create=True)
        now = time.time()
        return [
            (name, fernet.encrypt(json.dumps([name, value]).encode()), now)
            for name, value in clean.items()
        ]

    def get_secret(self, name: str) -> str | None:
        """A secret's value, or None when there is no secret of that name."""
        row = self.db.query_one(
            "SELECT token FROM secrets WHERE name = ?", (check_secret_name(name),)
        )
        if row is None:
            return None
        fernet = self._fernet(create=False)
        from cryptography.fernet import InvalidToken

        try:
            stored_name, value = json.loads(fernet.decrypt(bytes(row["token"])))
        except InvalidToken:
            raise AmlError(
                f"Secret {name!r} does not decrypt with this machine's key ({self._key_path()}): "
                "it was set with another key. Set it again."
            ) from None
        if stored_name != name:
            raise AmlError(f"Secret {name!r} holds another secret's value; set it again.")
        return str(value)

    def secret_names(self) -> list[str]:
        """The names of every secret, sorted (never their values)."""
        return [r["name"] for r in self.db.query("SELECT name FROM secrets ORDER BY name")]

    def delete_secrets(self, names: Iterable[str]) -> None:
        """Forget secrets by name (unknown names are ignored)."""
        clean = [(check_secret_name(n),) for n in names]
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM secrets WHERE name = ?", clean)


def _write_new_key(path: Path, key: bytes) -> None:
    """Publish a new key file, mode 0600, whole or not at all; another process that made one
    first wins (its key is the one both use)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(key)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(partial, path)  # fails if a key is there already: never replace one
        except FileExistsError:
            pass
    finally:
        partial.unlink(missing_ok=True)

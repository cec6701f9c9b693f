"""Registered datastores in the embedded store: one row each (name, kind, settings), their
credentials one encrypted secret each (``secrets``, see :mod:`.secrets`), written in the same
transaction as the row, so a registration is all there or not there at all.

The default datastore's name is the workspace setting ``default_datastore``; none set (or the
one set was unregistered) means v1's ``workspaceblobstore``.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from typing import Any

from ..errors import AmlError
from .embedded_base import EmbeddedBase, loads
from .secrets import SecretStore
from .types import DatastoreRecord

_DEFAULT_KEY = "default_datastore"


def _record(row: sqlite3.Row) -> DatastoreRecord:
    config = loads(row["config"], {})
    return DatastoreRecord(
        name=row["name"],
        kind=row["kind"],
        config=config if isinstance(config, dict) else {},
        created_utc=row["created_utc"],
        credentials_secret=row["credentials_secret"],
    )


class DatastoreRegistry(SecretStore, EmbeddedBase):
    """Datastores: add (with their credentials), read, list, delete, the default."""

    def add_datastore(
        self,
        name: str,
        kind: str,
        config: Mapping[str, Any],
        credentials: Mapping[str, str] | None = None,
        credentials_secret: str | None = None,
        overwrite: bool = False,
    ) -> DatastoreRecord:
        # Encrypted before the write lock is taken (it may make the key file).
        token_rows = []
        if credentials:
            if not credentials_secret:
                raise AmlError("A datastore's credentials need the name of their secret.")
            token_rows = self._secret_rows({credentials_secret: json.dumps(dict(credentials))})
        now = time.time()
        with self.db.transaction() as conn:
            old = conn.execute(
                "SELECT credentials_secret FROM datastores WHERE name = ?", (name,)
            ).fetchone()
            if old is not None:
                if not overwrite:
                    raise AmlError(
                        f"A datastore named {name!r} is registered already; register with "
                        "overwrite=True to replace it, or choose another name."
                    )
                conn.execute("DELETE FROM datastores WHERE name = ?", (name,))
                if old["credentials_secret"]:
                    conn.execute("DELETE FROM secrets WHERE name = ?", (old["credentials_secret"],))
            conn.executemany(
                "INSERT OR REPLACE INTO secrets (name, token, updated_utc) VALUES (?, ?, ?)",
                token_rows,
            )
            secret = credentials_secret if token_rows else None
            conn.execute(
                "INSERT INTO datastores (name, kind, config, credentials_secret, created_utc)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, kind, json.dumps(dict(config)), secret, now),
            )
        return DatastoreRecord(name, kind, dict(config), now, secret)

    def get_datastore(self, name: str) -> DatastoreRecord | None:
        row = self.db.query_one("SELECT * FROM datastores WHERE name = ?", (name,))
        return None if row is None else _record(row)

    def list_datastores(self) -> list[DatastoreRecord]:
        return [_record(r) for r in self.db.query("SELECT * FROM datastores ORDER BY name")]

    def datastore_credentials(self, name: str) -> dict[str, str]:
        record = self.get_datastore(name)
        if record is None or not record.credentials_secret:
            return {}
        text = self.get_secret(record.credentials_secret)
        if text is None:
            raise AmlError(
                f"The credentials of datastore {name!r} are missing from the workspace's "
                "secrets; register it again with overwrite=True."
            )
        values = loads(text, None)
        if not isinstance(values, dict):
            raise AmlError(
                f"The credentials of datastore {name!r} are unreadable; register it again "
                "with overwrite=True."
            )
        return {str(k): str(v) for k, v in values.items()}

    def delete_datastore(self, name: str) -> None:
        with self.db.transaction() as conn:
            old = conn.execute(
                "SELECT credentials_secret FROM datastores WHERE name = ?", (name,)
            ).fetchone()
            if old is None:
                return
            conn.execute("DELETE FROM datastores WHERE name = ?", (name,))
            if old["credentials_secret"]:
                conn.execute("DELETE FROM secrets WHERE name = ?", (old["credentials_secret"],))
            conn.execute(
                "DELETE FROM workspace_settings WHERE key = ? AND value = ?", (_DEFAULT_KEY, name)
            )

    def set_default_datastore(self, name: str | None) -> None:
        with self.db.transaction() as conn:
            if name is None:
                conn.execute("DELETE FROM workspace_settings WHERE key = ?", (_DEFAULT_KEY,))
                return
            conn.execute(
                "INSERT OR REPLACE INTO workspace_settings (key, value) VALUES (?, ?)",
                (_DEFAULT_KEY, name),
            )

    def default_datastore_name(self) -> str | None:
        row = self.db.query_one(
            "SELECT value FROM workspace_settings WHERE key = ?", (_DEFAULT_KEY,)
        )
        return None if row is None else str(row["value"])

"""Deployed scoring services in the embedded store: one row each (name, spec), their live
files in a :class:`.service_folder.ServiceFolder`.

A workspace made before services were rows kept each spec in ``services/<name>/service.json``.
Migration 6 leaves a pending import; the first process that reads services does it, once, in
the same write transaction that clears it (so two processes never both import), skipping any
``service.json`` it cannot read.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import AmlError
from .embedded_base import EmbeddedBase, loads
from .service_folder import (
    OLD_SPEC_FILE,
    ServiceFolder,
    check_service_folder_name,
    services_root,
)
from .types import ServiceRecord

_PENDING = "services"


def _record(row: sqlite3.Row) -> ServiceRecord:
    spec = loads(row["spec"], {})
    return ServiceRecord(
        name=row["name"],
        spec=spec if isinstance(spec, dict) else {},
        created_utc=row["created_utc"],
        updated_utc=row["updated_utc"],
    )


def _old_spec(folder: Path) -> dict[str, Any] | None:
    """The spec an old deployment wrote into ``folder``, or None if it is not readable."""
    try:
        spec = json.loads((folder / OLD_SPEC_FILE).read_text())
    except (OSError, ValueError):  # missing, unreadable, not JSON (UnicodeDecodeError too)
        return None
    return spec if isinstance(spec, dict) else None


def _bad_name(name: str) -> bool:
    try:
        check_service_folder_name(name)
    except AmlError:
        return True
    return False


class ServiceRegistry(EmbeddedBase):
    """Services: add, read, list, update, delete, and their live folders."""

    folder: Path
    #: Whether this process has seen the old-layout import done (then it is never looked at).
    _services_imported = False

    def _import_old_services(self) -> None:
        if self._services_imported:
            return
        pending_sql = "SELECT 1 FROM pending_imports WHERE what = ?"
        if self.db.query_one(pending_sql, (_PENDING,)) is None:  # no write lock when done
            self._services_imported = True
            return
        with self.db.transaction() as conn:
            # Again inside the write lock: another process may have imported since.
            if conn.execute(pending_sql, (_PENDING,)).fetchone() is not None:
                root = services_root(self.folder)
                for spec_file in sorted(root.glob(f"*/{OLD_SPEC_FILE}")):
                    folder = spec_file.parent
                    # A staging folder (".name.incoming") is never a service.
                    spec = None if _bad_name(folder.name) else _old_spec(folder)
                    if spec is None:
                        continue
                    created = spec.pop("created_utc", None)
                    if not isinstance(created, (int, float)):
                        created = time.time()
                    conn.execute(
                        "INSERT OR IGNORE INTO services (name, spec, created_utc, updated_utc)"
                        " VALUES (?, ?, ?, ?)",
                        (folder.name, json.dumps(spec), float(created), float(created)),
                    )
                conn.execute("DELETE FROM pending_imports WHERE what = ?", (_PENDING,))
        self._services_imported = True

    def add_service(self, name: str, spec: Mapping[str, Any]) -> ServiceRecord:
        check_service_folder_name(name)
        self._import_old_services()
        now = time.time()
        try:
            self.db.execute(
                "INSERT INTO services (name, spec, created_utc, updated_utc) VALUES (?, ?, ?, ?)",
                (name, json.dumps(dict(spec)), now, now),
            )
        except sqlite3.IntegrityError:
            raise AmlError(
                f"A service named {name!r} exists already; delete it first "
                "(or deploy with overwrite=True), or choose another name."
            ) from None
        return ServiceRecord(name, dict(spec), now, now)

    def get_service(self, name: str) -> ServiceRecord | None:
        self._import_old_services()
        row = self.db.query_one("SELECT * FROM services WHERE name = ?", (name,))
        return None if row is None else _record(row)

    def list_services(self) -> list[ServiceRecord]:
        self._import_old_services()
        return [_record(r) for r in self.db.query("SELECT * FROM services ORDER BY name")]

    def update_service(self, name: str, spec: Mapping[str, Any]) -> ServiceRecord:
        self._import_old_services()
        now = time.time()
        with self.db.transaction() as conn:
            changed = conn.execute(
                "UPDATE services SET spec = ?, updated_utc = ? WHERE name = ?",
                (json.dumps(dict(spec)), now, name),
            ).rowcount
            row = conn.execute("SELECT * FROM services WHERE name = ?", (name,)).fetchone()
        if not changed or row is None:
            raise AmlError(f"No service {name!r} in this workspace; Model.deploy makes one.")
        return _record(row)

    def delete_service(self, name: str) -> None:
        self._import_old_services()
        # The folder first: an interrupted delete leaves a record without files (still
        # listed, so it can be deleted again), never files no record points to.
        self.service_folder(name).remove()
        self.db.execute("DELETE FROM services WHERE name = ?", (name,))

    def service_folder(self, name: str) -> ServiceFolder:
        return ServiceFolder(services_root(self.folder) / check_service_folder_name(name))

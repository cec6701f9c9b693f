"""The embedded store's model registry: versions, lineage, tags, properties."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable, Mapping
from typing import Any

from .embedded_base import EmbeddedBase
from .types import ModelRecord

#: Columns a registered model version has besides its name and version.
MODEL_FIELDS = (
    "manifest",
    "path",
    "is_folder",
    "size",
    "file_count",
    "description",
    "framework",
    "framework_version",
    "run_id",
    "experiment",
)


class ModelRegistry(EmbeddedBase):
    """Reads and writes of registered models."""

    def add_model(
        self,
        name: str,
        *,
        manifest: str,
        path: str,
        is_folder: bool,
        size: int,
        file_count: int,
        description: str | None = None,
        framework: str | None = None,
        framework_version: str | None = None,
        run_id: str | None = None,
        experiment: str | None = None,
        tags: Mapping[str, Any] | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> int:
        fields = {
            "manifest": manifest,
            "path": path,
            "is_folder": int(is_folder),
            "size": size,
            "file_count": file_count,
            "description": description,
            "framework": framework,
            "framework_version": framework_version,
            "run_id": run_id,
            "experiment": experiment,
        }
        tags, properties = tags or {}, properties or {}
        with self.db.transaction() as conn:
            version = conn.execute(
                "SELECT COALESCE(MAX(version), 0) + 1 FROM models WHERE name = ?", (name,)
            ).fetchone()[0]
            columns = ", ".join(MODEL_FIELDS)
            conn.execute(
                f"INSERT INTO models (name, version, {columns}, created_utc)"
                f" VALUES (?, ?, {', '.join('?' * len(MODEL_FIELDS))}, ?)",
                (name, version, *(fields.get(f) for f in MODEL_FIELDS), time.time()),
            )
            conn.executemany(
                "INSERT INTO model_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
                [(name, version, str(k), None if v is None else str(v)) for k, v in tags.items()],
            )
            conn.executemany(
                "INSERT INTO model_properties (name, version, key, value) VALUES (?, ?, ?, ?)",
                [(name, version, str(k), str(v)) for k, v in properties.items()],
            )
        return int(version)

    def get_model(self, name: str, version: int | None = None) -> ModelRecord | None:
        if version is None:
            row = self.db.query_one(
                "SELECT * FROM models WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            )
        else:
            row = self.db.query_one(
                "SELECT * FROM models WHERE name = ? AND version = ?", (name, version)
            )
        return None if row is None else model_record(row)

    def find_models(
        self,
        name: str | None = None,
        tags: Iterable[tuple[str, str | None]] = (),
        properties: Iterable[tuple[str, str]] = (),
        run_id: str | None = None,
        latest: bool = False,
    ) -> list[ModelRecord]:
        where, params = [], []
        if name is not None:
            where.append("m.name = ?")
            params.append(name)
        if run_id is not None:
            where.append("m.run_id = ?")
            params.append(run_id)
        for key, value in tags:
            sql = "EXISTS (SELECT 1 FROM model_tags t WHERE t.name = m.name AND t.version = m.version AND t.key = ?"
            params.append(key)
            if value is not None:
                sql += " AND t.value = ?"
                params.append(value)
            where.append(sql + ")")
        for key, value in properties:
            where.append(
                "EXISTS (SELECT 1 FROM model_properties p WHERE p.name = m.name"
                " AND p.version = m.version AND p.key = ? AND p.value = ?)"
            )
            params.extend([key, value])
        if latest:
            where.append("m.version = (SELECT MAX(version) FROM models x WHERE x.name = m.name)")
        sql = "SELECT m.* FROM models m"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self.db.query(
            sql + " ORDER BY m.created_utc DESC, m.name, m.version DESC", tuple(params)
        )
        return [model_record(r) for r in rows]

    def model_tags(self, name: str, version: int) -> dict[str, str | None]:
        rows = self.db.query(
            "SELECT key, value FROM model_tags WHERE name = ? AND version = ? ORDER BY key",
            (name, version),
        )
        return {r["key"]: r["value"] for r in rows}

    def model_properties(self, name: str, version: int) -> dict[str, str]:
        rows = self.db.query(
            "SELECT key, value FROM model_properties WHERE name = ? AND version = ? ORDER BY key",
            (name, version),
        )
        return {r["key"]: r["value"] for r in rows}

    def set_model_tags(self, name: str, version: int, tags: Mapping[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO model_tags (name, version, key, value) VALUES (?, ?, ?, ?)",
                [(name, version, str(k), None if v is None else str(v)) for k, v in tags.items()],
            )

    def remove_model_tags(self, name: str, version: int, keys: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM model_tags WHERE name = ? AND version = ? AND key = ?",
                [(name, version, k) for k in keys],
            )

    def add_model_properties(self, name: str, version: int, properties: Mapping[str, Any]) -> None:
        """Add properties; existing keys keep their value (properties are write-once in v1)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR IGNORE INTO model_properties (name, version, key, value)"
                " VALUES (?, ?, ?, ?)",
                [(name, version, str(k), str(v)) for k, v in properties.items()],
            )

    def set_model_description(self, name: str, version: int, description: str | None) -> None:
        self.db.execute(
            "UPDATE models SET description = ? WHERE name = ? AND version = ?",
            (description, name, version),
        )

    def delete_model(self, name: str, version: int) -> None:
        with self.db.transaction() as conn:
            for table in ("model_tags", "model_properties", "models"):
                conn.execute(f"DELETE FROM {table} WHERE name = ? AND version = ?", (name, version))


def model_record(row: sqlite3.Row) -> ModelRecord:
    """A ``models`` row as a record."""
    return ModelRecord(
        name=row["name"],
        version=int(row["version"]),
        manifest=row["manifest"],
        path=row["path"],
        is_folder=bool(row["is_folder"]),
        size=int(row["size"]),
        file_count=int(row["file_count"]),
        created_utc=row["created_utc"],
        description=row["description"],
        framework=row["framework"],
        framework_version=row["framework_version"],
        run_id=row["run_id"],
        experiment=row["experiment"],
    )

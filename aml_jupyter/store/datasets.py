"""Registered datasets: versions pinned to their files' content, their tags, and lineage
(which runs read and wrote which version)."""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AmlError
from .embedded_base import EmbeddedBase, loads
from .types import DatasetFileRecord, DatasetRecord, RunDatasetRecord

_DIRECTIONS = ("input", "output")
#: Names starting with this hold *saved* datasets (v1's unregistered datasets that a run
#: used: they get an id, for lineage, but are no registered name): never listed. A user's
#: name cannot start with it (see registry.names).
SAVED_PREFIX = "_"


def _tag_rows(dataset_id: str, tags: Mapping[str, Any]) -> list[tuple[str, str, str | None]]:
    return [(dataset_id, str(k), None if v is None else str(v)) for k, v in tags.items()]


class DatasetRegistry(EmbeddedBase):
    """Dataset versions, their files and tags, and run ↔ dataset lineage."""

    def add_dataset(
        self,
        name: str,
        kind: str,
        definition: Mapping[str, Any],
        files: list[tuple[str, int, str]],
        *,
        fingerprint: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        create_new_version: bool = False,
    ) -> tuple[DatasetRecord, bool]:
        text = json.dumps(dict(definition), sort_keys=True)
        with self.db.transaction() as conn:
            latest = conn.execute(
                "SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            ).fetchone()
            if latest is not None:
                if latest["kind"] != kind:
                    raise AmlError(
                        f"The name {name!r} is registered for a {latest['kind']} dataset; this "
                        f"one is a {kind} dataset. Register it under another name."
                    )
                if latest["definition"] == text and latest["fingerprint"] == fingerprint:
                    return self._record(conn, latest), False
                if not create_new_version:
                    raise AmlError(
                        f"A dataset named {name!r} is registered already (version "
                        f"{latest['version']}) with another definition or other content. Pass "
                        "create_new_version=True to register this one as a new version."
                    )
            version = 1 if latest is None else int(latest["version"]) + 1
            dataset_id = str(uuid.uuid4())
            conn.execute(
                "INSERT INTO datasets (id, name, version, kind, definition, fingerprint,"
                " file_count, size, description, created_utc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    dataset_id,
                    name,
                    version,
                    kind,
                    text,
                    fingerprint,
                    len(files),
                    sum(size for _, size, _ in files),
                    description,
                    time.time(),
                ),
            )
            conn.executemany(
                "INSERT INTO dataset_files (dataset_id, path, size, sha256) VALUES (?, ?, ?, ?)",
                [(dataset_id, path, size, sha) for path, size, sha in files],
            )
            conn.executemany(
                "INSERT INTO dataset_tags (dataset_id, key, value) VALUES (?, ?, ?)",
                _tag_rows(dataset_id, tags or {}),
            )
            row = conn.execute("SELECT * FROM datasets WHERE id = ?", (dataset_id,)).fetchone()
            return self._record(conn, row), True

    def _record(self, conn: sqlite3.Connection, row: sqlite3.Row) -> DatasetRecord:
        return self._dataset_records(conn, [row])[0]

    def _dataset_records(
        self, conn: sqlite3.Connection, rows: list[sqlite3.Row]
    ) -> list[DatasetRecord]:
        """Records of ``rows`` with their tags, read in one query for all of them."""
        tags: dict[str, dict[str, str | None]] = {r["id"]: {} for r in rows}
        for t in conn.execute(
            "SELECT dataset_id, key, value FROM dataset_tags"
            " WHERE dataset_id IN (SELECT value FROM json_each(?)) ORDER BY dataset_id, key",
            (json.dumps(list(tags)),),
        ):
            tags[t["dataset_id"]][t["key"]] = t["value"]
        return [self._dataset_of(row, tags[row["id"]]) for row in rows]

    @staticmethod
    def _dataset_of(row: sqlite3.Row, tags: dict[str, str | None]) -> DatasetRecord:
        return DatasetRecord(
            id=row["id"],
            name=row["name"],
            version=int(row["version"]),
            kind=row["kind"],
            definition=loads(row["definition"], {}),
            fingerprint=row["fingerprint"],
            file_count=int(row["file_count"]),
            size=int(row["size"]),
            description=row["description"],
            created_utc=row["created_utc"],
            tags=tags,
        )

    def _one(self, sql: str, params: tuple) -> DatasetRecord | None:
        with self.db.transaction() as conn:  # the row and its tags read together
            row = conn.execute(sql, params).fetchone()
            return None if row is None else self._record(conn, row)

    def get_dataset(self, name: str, version: int | None = None) -> DatasetRecord | None:
        if version is None:
            return self._one(
                "SELECT * FROM datasets WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            )
        return self._one("SELECT * FROM datasets WHERE name = ? AND version = ?", (name, version))

    def get_dataset_by_id(self, dataset_id: str) -> DatasetRecord | None:
        return self._one("SELECT * FROM datasets WHERE id = ?", (dataset_id,))

    def dataset_versions(self, name: str) -> list[int]:
        rows = self.db.query(
            "SELECT version FROM datasets WHERE name = ? ORDER BY version", (name,)
        )
        return [int(r["version"]) for r in rows]

    def list_datasets(self) -> list[DatasetRecord]:
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT d.* FROM datasets d WHERE d.version ="
                " (SELECT MAX(o.version) FROM datasets o WHERE o.name = d.name)"
                " AND substr(d.name, 1, 1) != ? ORDER BY d.name",
                (SAVED_PREFIX,),
            ).fetchall()
            return self._dataset_records(conn, rows)

    def dataset_files(self, dataset_id: str) -> list[DatasetFileRecord]:
        rows = self.db.query(
            "SELECT path, size, sha256 FROM dataset_files WHERE dataset_id = ? ORDER BY path",
            (dataset_id,),
        )
        return [DatasetFileRecord(r["path"], int(r["size"]), r["sha256"]) for r in rows]

    def set_dataset_tags(self, dataset_id: str, tags: Mapping[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO dataset_tags (dataset_id, key, value) VALUES (?, ?, ?)",
                _tag_rows(dataset_id, tags),
            )

    def remove_dataset_tags(self, dataset_id: str, keys: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM dataset_tags WHERE dataset_id = ? AND key = ?",
                [(dataset_id, str(k)) for k in keys],
            )

    def set_dataset_description(self, dataset_id: str, description: str | None) -> None:
        self.db.execute(
            "UPDATE datasets SET description = ? WHERE id = ?", (description, dataset_id)
        )

    def delete_dataset(self, name: str) -> int:
        with self.db.transaction() as conn:
            return conn.execute("DELETE FROM datasets WHERE name = ?", (name,)).rowcount

    def add_run_datasets(self, run_id: str, direction: str, datasets: Mapping[str, str]) -> None:
        if direction not in _DIRECTIONS:
            raise AmlError(f"A run's dataset is an 'input' or an 'output', not {direction!r}.")
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_datasets (run_id, direction, name, dataset_id)"
                " VALUES (?, ?, ?, ?)",
                [(run_id, direction, str(n), str(i)) for n, i in datasets.items()],
            )

    def run_datasets(self, run_id: str) -> list[RunDatasetRecord]:
        rows = self.db.query(
            "SELECT * FROM run_datasets WHERE run_id = ? ORDER BY direction, name", (run_id,)
        )
        return [
            RunDatasetRecord(r["run_id"], r["direction"], r["name"], r["dataset_id"]) for r in rows
        ]

    def dataset_lineage(self, dataset_id: str) -> list[RunDatasetRecord]:
        rows = self.db.query(
            "SELECT * FROM run_datasets WHERE dataset_id = ? ORDER BY run_id, direction, name",
            (dataset_id,),
        )
        return [
            RunDatasetRecord(r["run_id"], r["direction"], r["name"], r["dataset_id"]) for r in rows
        ]

    def dataset_run_counts(self, dataset_ids: Iterable[str]) -> dict[str, int]:
        ids = [str(i) for i in dataset_ids]
        # The ids as one JSON parameter: any number of them, under SQLite's variable limit.
        rows = self.db.query(
            "SELECT dataset_id, COUNT(DISTINCT run_id) AS runs FROM run_datasets"
            " WHERE dataset_id IN (SELECT value FROM json_each(?)) GROUP BY dataset_id",
            (json.dumps(ids),),
        )
        return {**dict.fromkeys(ids, 0), **{r["dataset_id"]: int(r["runs"]) for r in rows}}

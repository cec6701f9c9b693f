"""What the embedded store registers besides runs and models: environments, snapshots (with
the cache of file hashes that makes re-snapshotting cheap) and compute targets."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

from .embedded_base import EmbeddedBase, loads
from .run_records import CHUNK
from .types import ComputeTargetRecord, EnvironmentRecord, FileHashRecord


def _unlabelled(text: str) -> str:
    """A stored spec without its labels (what a new registration is compared with)."""
    if '"_labels"' not in text:
        return text
    spec = json.loads(text)
    spec.pop("_labels", None)
    return json.dumps(spec, sort_keys=True)


class Catalog(EmbeddedBase):
    """Environments, snapshots and compute targets."""

    # environments -------------------------------------------------------------------------
    def register_environment(self, name: str, spec_hash: str, spec: Mapping[str, Any]) -> int:
        text = json.dumps(spec, sort_keys=True)
        with self.db.transaction() as conn:
            latest = conn.execute(
                "SELECT version, spec FROM environments WHERE name = ? ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if latest is not None and _unlabelled(latest["spec"]) == text:
                return int(latest["version"])
            version = 1 if latest is None else int(latest["version"]) + 1
            conn.execute(
                "INSERT INTO environments (name, version, hash, spec, created_utc)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, version, spec_hash, text, time.time()),
            )
        return version

    def get_environment(self, name: str, version: int | None = None) -> EnvironmentRecord | None:
        if version is None:
            row = self.db.query_one(
                "SELECT * FROM environments WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            )
        else:
            row = self.db.query_one(
                "SELECT * FROM environments WHERE name = ? AND version = ?", (name, version)
            )
        if row is None:
            return None
        return EnvironmentRecord(
            name=row["name"],
            version=int(row["version"]),
            hash=row["hash"],
            spec=loads(row["spec"], {}),
            created_utc=row["created_utc"],
        )

    def label_environment(self, name: str, version: int, labels: list[str]) -> None:
        # Labels live in the version's spec (key "_labels"), so no schema change; a label
        # names one version of a name: it leaves the version that had it.
        with self.db.transaction() as conn:
            rows = conn.execute(
                "SELECT version, spec FROM environments WHERE name = ?", (name,)
            ).fetchall()
            for row in rows:
                spec = loads(row["spec"], {})
                had = list(spec.get("_labels") or [])
                now = [lb for lb in had if lb not in labels]
                if int(row["version"]) == version:
                    now += labels
                if now != had:
                    if now:
                        spec["_labels"] = now
                    else:
                        spec.pop("_labels", None)
                    conn.execute(
                        "UPDATE environments SET spec = ? WHERE name = ? AND version = ?",
                        (json.dumps(spec, sort_keys=True), name, int(row["version"])),
                    )

    def environment_version_by_label(self, name: str, label: str) -> int | None:
        for row in self.db.query(
            "SELECT version, spec FROM environments WHERE name = ? ORDER BY version DESC", (name,)
        ):
            if label in (loads(row["spec"], {}).get("_labels") or []):
                return int(row["version"])
        return None

    def environment_versions(self) -> list[tuple[str, int]]:
        rows = self.db.query("SELECT name, version FROM environments ORDER BY name, version")
        return [(r["name"], int(r["version"])) for r in rows]

    # snapshots ----------------------------------------------------------------------------
    def add_snapshot(self, snapshot_id: str, file_count: int, size: int) -> None:
        self.db.execute(
            "INSERT OR IGNORE INTO snapshots (id, file_count, size, created_utc) VALUES (?, ?, ?, ?)",
            (snapshot_id, file_count, size, time.time()),
        )

    def cached_hashes(self, paths: list[str]) -> dict[str, FileHashRecord]:
        out: dict[str, FileHashRecord] = {}
        for start in range(0, len(paths), CHUNK):
            chunk = paths[start : start + CHUNK]
            for r in self.db.query(
                "SELECT path, size, mtime_ns, inode, sha256 FROM file_hashes"
                f" WHERE path IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            ):
                out[r["path"]] = FileHashRecord(
                    r["path"], r["size"], r["mtime_ns"], r["inode"], r["sha256"]
                )
        return out

    def cache_hashes(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        if rows:
            with self.db.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, sha256)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

    # compute targets ----------------------------------------------------------------------
    def compute_targets(self) -> list[ComputeTargetRecord]:
        rows = self.db.query("SELECT name, type, config FROM compute_targets ORDER BY name")
        return [ComputeTargetRecord(r["name"], r["type"], loads(r["config"], {})) for r in rows]

    def attach_compute_target(self, name: str, kind: str, config: Mapping[str, Any]) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO compute_targets (name, type, config) VALUES (?, ?, ?)",
            (name, kind, json.dumps(dict(config))),
        )

    def detach_compute_target(self, name: str) -> bool:
        cursor = self.db.execute("DELETE FROM compute_targets WHERE name = ?", (name,))
        return cursor.rowcount > 0

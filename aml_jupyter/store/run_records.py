"""The embedded store's runs: creating, reading and changing one run, its tags, properties,
files and metric summary (listing many runs is in :mod:`.run_listing`)."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AmlError
from ..status import RunStatus
from .embedded_base import RUN_SOURCE, EmbeddedBase, run_record
from .limits import MAX_NAME_CHARS, MAX_RUN_ID_CHARS, check_tag_count, check_tags, check_text
from .types import FileRecord, RunRecord

_TERMINAL = tuple(sorted(RunStatus.TERMINAL))
#: Ids per ``IN (...)`` of a batched read (SQLite allows 999 parameters at least).
CHUNK = 500


class RunRecords(EmbeddedBase):
    """One run at a time."""

    def create_run(
        self,
        experiment: str,
        run_type: str,
        status: str,
        *,
        run_id: str | None = None,
        parent_id: str | None = None,
        target: str | None = None,
        definition: Mapping[str, Any] | None = None,
        display_name: str | None = None,
    ) -> str:
        now = time.time()
        run_id = check_run_id(run_id or new_run_id(experiment, now))
        if display_name is not None:
            check_text(display_name, "run display name", MAX_NAME_CHARS)
        self.ensure_experiment(experiment)
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise AmlError(f"A run with id {run_id!r} exists already; choose another run_id.")
            experiment_id = conn.execute(
                "SELECT id FROM experiments WHERE name = ?", (experiment,)
            ).fetchone()[0]
            number = conn.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE experiment_id = ?",
                (experiment_id,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO runs (id, experiment_id, number, parent_id, run_type, display_name,"
                " status, target, definition, created_utc, started_utc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    experiment_id,
                    number,
                    parent_id,
                    run_type,
                    display_name,
                    status,
                    target,
                    json.dumps(dict(definition or {})),
                    now,
                    now if status == RunStatus.RUNNING else None,
                ),
            )
        return run_id

    def delete_run(self, run_id: str) -> None:
        with self.db.transaction() as conn:
            for table in ("run_tags", "run_properties", "run_files", "metric_summary"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    def get_run(self, run_id: str) -> RunRecord:
        row = self.db.query_one(f"{RUN_SOURCE} WHERE r.id = ?", (run_id,))
        if row is None:
            raise AmlError(
                f"No run with id {run_id!r} in this workspace. `aml run list` or `%aml_runs` shows the run ids."
            )
        return run_record(row)

    def find_run_ids(self, prefix: str) -> list[str]:
        # A range on the primary key: case-sensitive, like the ids, and indexed.
        rows = self.db.query(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY created_utc DESC LIMIT 2",
            (prefix, prefix + "\U0010ffff"),
        )
        return [r["id"] for r in rows]

    def update_run(
        self,
        run_id: str,
        *,
        display_name: str | None = None,
        description: str | None = None,
        snapshot_id: str | None = None,
        error: Mapping[str, Any] | None = None,
        pid: int | None = None,
        pid_started: str | None = None,
        host: str | None = None,
        child_pid: int | None = None,
    ) -> None:
        given = {
            "display_name": display_name,
            "description": description,
            "snapshot_id": snapshot_id,
            "error": None if error is None else json.dumps(dict(error)),
            "pid": pid,
            "pid_started": pid_started,
            "host": host,
            "child_pid": child_pid,
        }
        fields = {k: v for k, v in given.items() if v is not None}
        if fields:
            names = ", ".join(f"{k} = ?" for k in fields)
            self.db.execute(f"UPDATE runs SET {names} WHERE id = ?", (*fields.values(), run_id))

    def set_status(
        self,
        run_id: str,
        status: str,
        *,
        error: Mapping[str, Any] | None = None,
        exit_code: int | None = None,
    ) -> bool:
        fields: dict[str, Any] = {}
        if status == RunStatus.RUNNING:
            fields["started_utc"] = time.time()
        if status in RunStatus.TERMINAL:
            fields["ended_utc"] = time.time()
        if error is not None:
            fields["error"] = json.dumps(dict(error))
        if exit_code is not None:
            fields["exit_code"] = exit_code
        names = "".join(f", {k} = ?" for k in fields)
        # A cancel request stays until the run ends: a supervisor still starting up must not
        # overwrite it with Preparing/Starting/Running (it looks for it before the script runs).
        sticky = "" if status in RunStatus.TERMINAL else " AND status != ?"
        cursor = self.db.execute(
            f"UPDATE runs SET status = ?{names} WHERE id = ?"
            f" AND status NOT IN ({','.join('?' * len(_TERMINAL))}){sticky}",
            (status, *fields.values(), run_id, *_TERMINAL)
            + (() if not sticky else (RunStatus.CANCEL_REQUESTED,)),
        )
        return cursor.rowcount > 0

    # tags and properties ------------------------------------------------------------------
    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        checked = check_tags(tags)
        with self.db.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM run_tags WHERE run_id = ?", (run_id,))
            check_tag_count(count.fetchone()[0] + len(checked))
            conn.executemany(
                "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in checked.items()],
            )

    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM run_tags WHERE run_id = ? AND key = ?", [(run_id, k) for k in keys]
            )

    def tags_of(
        self, run_ids: list[str], max_chars: int | None = None
    ) -> dict[str, dict[str, str | None]]:
        # A cut value is cut by SQLite: the rest of a big tag is never handed over.
        out: dict[str, dict[str, str | None]] = {}
        value = "value" if max_chars is None else f"substr(value, 1, {int(max_chars) + 1})"
        for start in range(0, len(run_ids), CHUNK):
            chunk = run_ids[start : start + CHUNK]
            rows = self.db.query(
                f"SELECT run_id, key, {value} AS value FROM run_tags"
                f" WHERE run_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            for r in rows:
                out.setdefault(r["run_id"], {})[r["key"]] = r["value"]
        return out

    def get_tags(self, run_id: str) -> dict[str, str | None]:
        rows = self.db.query("SELECT key, value FROM run_tags WHERE run_id = ?", (run_id,))
        return {r["key"]: r["value"] for r in rows}

    def add_properties(self, run_id: str, properties: Mapping[str, Any]) -> None:
        checked = check_tags(properties, what="property")
        with self.db.transaction() as conn:
            for key, value in checked.items():
                text = str(value)
                row = conn.execute(
                    "SELECT value FROM run_properties WHERE run_id = ? AND key = ?", (run_id, key)
                ).fetchone()
                if row is not None and row["value"] != text:
                    raise AmlError(
                        f"Property {key!r} of run {run_id} is already {row['value']!r}; properties "
                        "are immutable. Use a tag (run.tag) for values that change."
                    )
                conn.execute(
                    "INSERT OR IGNORE INTO run_properties (run_id, key, value) VALUES (?, ?, ?)",
                    (run_id, key, text),
                )

    def get_properties(self, run_id: str) -> dict[str, str]:
        rows = self.db.query("SELECT key, value FROM run_properties WHERE run_id = ?", (run_id,))
        return {r["key"]: r["value"] for r in rows}

    # files --------------------------------------------------------------------------------
    def add_files(self, run_id: str, files: Iterable[tuple[str, str, int]]) -> None:
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_files (run_id, name, sha256, size) VALUES (?, ?, ?, ?)",
                [(run_id, n, s, z) for n, s, z in files],
            )

    def list_files(self, run_id: str) -> list[FileRecord]:
        rows = self.db.query(
            "SELECT name, sha256, size FROM run_files WHERE run_id = ? ORDER BY name", (run_id,)
        )
        return [FileRecord(r["name"], r["sha256"], int(r["size"])) for r in rows]

    def get_file(self, run_id: str, name: str) -> FileRecord | None:
        r = self.db.query_one(
            "SELECT name, sha256, size FROM run_files WHERE run_id = ? AND name = ?", (run_id, name)
        )
        return None if r is None else FileRecord(r["name"], r["sha256"], int(r["size"]))

    # metric summaries ---------------------------------------------------------------------
    def save_metric_summary(self, run_id: str, summary: Mapping[str, tuple[Any, int]]) -> None:
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM metric_summary WHERE run_id = ?", (run_id,))
            conn.executemany(
                "INSERT INTO metric_summary (run_id, name, last_value, count) VALUES (?, ?, ?, ?)",
                [(run_id, k, json.dumps(v), n) for k, (v, n) in summary.items()],
            )

    def metric_summaries(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(run_ids), CHUNK):
            chunk = run_ids[start : start + CHUNK]
            rows = self.db.query(
                "SELECT run_id, name, last_value FROM metric_summary"
                f" WHERE run_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            for r in rows:
                out.setdefault(r["run_id"], {})[r["name"]] = json.loads(r["last_value"])
        return out


def check_run_id(run_id: Any) -> str:
    """Run ids name folders: letters, digits, '_', '-' and '.', at most 240 characters."""
    if (
        not isinstance(run_id, str)
        or not 0 < len(run_id) <= MAX_RUN_ID_CHARS
        or run_id.strip(".") == ""
        or not all(c.isascii() and (c.isalnum() or c in "_-.") for c in run_id)
    ):
        raise AmlError(
            f"Run id {run_id!r} is not allowed: use 1-{MAX_RUN_ID_CHARS} letters, digits, "
            "'_', '-' or '.' (it names the run's folder)."
        )
    return run_id


def new_run_id(experiment: str, now: float | None = None) -> str:
    """A fresh run id: ``<experiment>_<unix time>_<8 hex>`` as in v1."""
    return f"{experiment}_{int(now if now is not None else time.time())}_{secrets.token_hex(4)}"

"""Run, experiment and target records: every SQL statement the tracking layer needs."""

from __future__ import annotations

import json
import logging
import os
import secrets
import signal
import sqlite3
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..compute.local import liveness
from ..errors import AmlError
from ..status import RunStatus
from .database import Database
from .limits import MAX_NAME_CHARS, MAX_RUN_ID_CHARS, check_tag_count, check_tags, check_text
from .metrics import latest_values, summarize_files

#: A run whose owner has not touched its heartbeat file for this long is declared dead.
HEARTBEAT_TIMEOUT_S = 30.0
_TERMINAL = tuple(sorted(RunStatus.TERMINAL))
_ACTIVE = tuple(sorted(RunStatus.ACTIVE))

log = logging.getLogger(__name__)
#: Metrics files up to this size are read whole to summarize a dead run; beyond, their tails.
_SUMMARY_READ_BYTES = 16 << 20

#: A filter matching fewer rows than this is served from its own index (see list_runs).
RARE = 2000

SORT_COLUMNS = {"created": "created_utc", "started": "started_utc", "number": "number"}


class Records:
    """Typed access to the workspace's metadata tables."""

    def __init__(self, db: Database, runs_root: Path) -> None:
        self.db = db
        self.runs_root = runs_root
        self._counts: dict[str, tuple[tuple[int, int], int]] = {}
        self._fts = (
            db.query_one(
                "SELECT 1 FROM sqlite_master WHERE name = 'run_search' AND sql LIKE '%fts5%'"
            )
            is not None
        )
        self._last_reap = 0.0
        self._unburied: set[str] = set()

    # experiments --------------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> int:
        """The id of experiment ``name``, creating it if new."""
        row = self.db.query_one("SELECT id FROM experiments WHERE name = ?", (name,))
        if row is not None:
            return int(row["id"])
        self.db.execute(
            "INSERT OR IGNORE INTO experiments (name, created_utc) VALUES (?, ?)",
            (name, time.time()),
        )
        row = self.db.query_one("SELECT id FROM experiments WHERE name = ?", (name,))
        assert row is not None
        return int(row["id"])

    def experiment_names(self) -> list[str]:
        """All experiment names, oldest first."""
        return [r["name"] for r in self.db.query("SELECT name FROM experiments ORDER BY id")]

    def experiment_summaries(self) -> list[sqlite3.Row]:
        """Experiments with their run counts and latest run time."""
        top = "FROM runs r WHERE r.experiment_id = e.id AND r.parent_id IS NULL"
        return self.db.query(
            f"SELECT e.name, e.created_utc, (SELECT COUNT(*) {top}) AS run_count,"
            f" (SELECT MAX(r.created_utc) {top}) AS last_run FROM experiments e ORDER BY e.id"
        )

    # runs ---------------------------------------------------------------------------------
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
        owner_pid: int | None = None,
    ) -> str:
        """Insert a run and return its id (``<experiment>_<unix time>_<8 hex>`` as in v1)."""
        now = time.time()
        run_id = check_run_id(run_id or new_run_id(experiment, now))
        if display_name is not None:
            check_text(display_name, "run display name", MAX_NAME_CHARS)
        experiment_id = self.ensure_experiment(experiment)
        started = liveness.process_start_time(owner_pid) if owner_pid else None
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE id = ?", (run_id,)).fetchone():
                raise AmlError(f"A run with id {run_id!r} exists already; choose another run_id.")
            number = conn.execute(
                "SELECT COALESCE(MAX(number), 0) + 1 FROM runs WHERE experiment_id = ?",
                (experiment_id,),
            ).fetchone()[0]
            conn.execute(
                "INSERT INTO runs (id, experiment_id, number, parent_id, run_type, display_name,"
                " status, target, definition, created_utc, started_utc, pid, pid_started, host)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    run_id,
                    experiment_id,
                    number,
                    parent_id,
                    run_type,
                    display_name,
                    status,
                    target,
                    json.dumps(definition or {}),
                    now,
                    now if status == RunStatus.RUNNING else None,
                    owner_pid,
                    started,
                    liveness.HOST if owner_pid else None,
                ),
            )
        return run_id

    def delete_run(self, run_id: str) -> None:
        """Remove a run that never got going (a submit that failed before it started)."""
        with self.db.transaction() as conn:
            for table in ("run_tags", "run_properties", "run_files", "metric_summary"):
                conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

    _RUN_COLUMNS = "r.*, e.name AS experiment"

    def get_run(self, run_id: str) -> sqlite3.Row:
        """The run's row, or a clear error for an unknown id."""
        self.reap_dead_runs(run_id)
        row = self.db.query_one(
            f"SELECT {self._RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id"
            " WHERE r.id = ?",
            (run_id,),
        )
        if row is None:
            raise AmlError(
                f"No run with id {run_id!r} in this workspace. `aml run list` or `%aml_runs` shows the run ids."
            )
        return row

    def find_run_ids(self, prefix: str) -> list[str]:
        """Run ids that start with ``prefix`` (for short ids typed at a prompt)."""
        # A range on the primary key: case-sensitive, like the ids, and indexed.
        rows = self.db.query(
            "SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY created_utc DESC LIMIT 2",
            (prefix, prefix + "\U0010ffff"),
        )
        return [r["id"] for r in rows]

    def list_runs(
        self,
        *,
        experiment: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str | None] | None = None,
        properties: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        include_children: bool = False,
        run_type: str | None = None,
        text: str | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[sqlite3.Row]:
        """Runs matching the filters, newest first by default: one indexed SQL query.

        ``text`` matches (case-insensitively) a part of the run's id, name, experiment,
        script or a tag.
        """
        self.reap_dead_runs()
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise AmlError(f"Cannot sort runs by {sort!r}; choose one of {sorted(SORT_COLUMNS)}.")
        direction = "DESC" if descending else "ASC"
        order = f"r.{column} {direction}, r.rowid {direction}"
        source = (
            f"SELECT {self._RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id"
        )
        only_top_level = parent_id is None and not include_children
        if (
            limit is not None
            and sort == "created"
            and only_top_level
            and not any((status, tags, properties, run_type, text))
        ):
            # Page through a partial index of top-level runs, reading only the rows shown:
            # the last page of 100,000 runs costs about what the first does.
            index, inner_where = "runs_top_by_created", ""
            top_params: list[Any] = []
            if experiment is not None:
                index = "runs_top_by_experiment"
                inner_where = " AND r.experiment_id = (SELECT id FROM experiments WHERE name = ?)"
                top_params.append(experiment)
            # No rowid tie-break inside: it would sort the whole index (times are µs apart).
            inner = (
                f"SELECT r.rowid FROM runs r INDEXED BY {index} WHERE r.parent_id IS NULL"
                f"{inner_where} ORDER BY r.created_utc {direction} LIMIT ? OFFSET ?"
            )
            sql = f"{source} WHERE r.rowid IN ({inner}) ORDER BY {order}"
            return self.db.query(sql, (*top_params, limit, offset))
        where, params = self._run_filter(
            experiment, status, tags, properties, parent_id, include_children, run_type, text
        )
        sql = source
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY {order}"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params.extend([limit, offset])
        return self.db.query(sql, tuple(params))

    def count_runs(
        self,
        *,
        experiment: str | None = None,
        status: str | Iterable[str] | None = None,
        tags: Mapping[str, str | None] | None = None,
        properties: Mapping[str, str] | None = None,
        parent_id: str | None = None,
        include_children: bool = False,
        run_type: str | None = None,
        text: str | None = None,
    ) -> int:
        """How many runs :meth:`list_runs` would return with these filters and no limit.

        A count is remembered until the database next changes: a live listing asks for the
        same count every second, and a filtered one can cost tens of ms at 100,000 runs.
        """
        args = (experiment, status, tags, properties, parent_id, include_children, run_type, text)
        key = repr(args)
        token = self.db.change_token()
        cached = self._counts.get(key)
        if cached is not None and cached[0] == token:
            return cached[1]
        where, params = self._run_filter(*args, counting=True)
        sql = "SELECT COUNT(*) FROM runs r"
        if where:
            sql += " WHERE " + " AND ".join(where)
        row = self.db.query_one(sql, tuple(params))
        total = int(row[0]) if row is not None else 0
        if len(self._counts) > 64:
            self._counts.clear()
        self._counts[key] = (token, total)
        return total

    def _run_filter(
        self,
        experiment: str | None,
        status: str | Iterable[str] | None,
        tags: Mapping[str, str | None] | None,
        properties: Mapping[str, str] | None,
        parent_id: str | None,
        include_children: bool,
        run_type: str | None,
        text: str | None,
        counting: bool = False,
    ) -> tuple[list[str], list[Any]]:
        """WHERE conditions on ``runs r`` and their parameters.

        ``counting``: for a COUNT, which reads every match anyway, so filters are driven from
        their own indexes rather than from a newest-first walk.
        """
        where: list[str] = []
        params: list[Any] = []
        if experiment is not None:
            where.append("r.experiment_id = (SELECT id FROM experiments WHERE name = ?)")
            params.append(experiment)
        if parent_id is not None:
            where.append("r.parent_id = ?")
            params.append(parent_id)
        elif not include_children:
            # '+' keeps SQLite off the parent index: nearly every run is top-level, so walking
            # the newest-first index and skipping children is far cheaper than sorting them all.
            where.append("r.parent_id IS NULL" if counting else "+r.parent_id IS NULL")
        if status is not None:
            statuses = [status] if isinstance(status, str) else list(status)
            marks = ",".join("?" * len(statuses))
            rare = counting or self._is_rare(f"runs WHERE status IN ({marks})", statuses)
            where.append(f"{'' if rare else '+'}r.status IN ({marks})")
            params.extend(statuses)
        if run_type is not None:
            where.append("+r.run_type = ?")
            params.append(run_type)
        for table, items in (("run_tags", tags), ("run_properties", properties)):
            for key, value in (items or {}).items():
                conditions = ["key = ?"] if value is None else ["key = ?", "value = ?"]
                args = [key] if value is None else [key, str(value)]
                match = " AND ".join(conditions)
                if counting or self._is_rare(f"{table} WHERE {match}", args):
                    # Few runs carry it: fetch them by the tag, then sort just those.
                    where.append(f"r.id IN (SELECT run_id FROM {table} WHERE {match})")
                else:
                    # Many do: walk runs newest first and stop after a page of matches.
                    inner = " AND ".join(f"t.{c}" for c in conditions)
                    where.append(
                        f"EXISTS (SELECT 1 FROM {table} t WHERE t.run_id = r.id AND {inner})"
                    )
                params.extend(args)
        if text:
            if self._fts and len(text) >= 3:
                # A trigram phrase matches the text anywhere, in any case, from the index. Few
                # matches: fetch them and sort; many: walk runs newest first and probe them.
                phrase = '"' + text.replace('"', '""') + '"'
                rare = counting or self._is_rare("run_search WHERE run_search MATCH ?", [phrase])
                where.append(
                    f"{'' if rare else '+'}r.rowid IN"
                    " (SELECT rowid FROM run_search WHERE run_search MATCH ?)"
                )
                params.append(phrase)
            else:
                # Too short for trigrams: scan the narrow search table; % and _ stay literal.
                escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                where.append(
                    "r.rowid IN (SELECT rowid FROM run_search WHERE text LIKE ? ESCAPE '\\')"
                )
                params.append(f"%{escaped}%")
        return where, params

    def _is_rare(self, source: str, params: list[Any]) -> bool:
        """Whether fewer than RARE rows match: decides which index a run filter should use."""
        row = self.db.query_one(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM {source} LIMIT {RARE})", tuple(params)
        )
        return row is not None and row[0] < RARE

    def update_run(self, run_id: str, **fields: Any) -> None:
        """Set columns of a run (no status rules: use :meth:`set_status` for status)."""
        if not fields:
            return
        names = ", ".join(f"{k} = ?" for k in fields)
        self.db.execute(f"UPDATE runs SET {names} WHERE id = ?", (*fields.values(), run_id))

    def set_status(self, run_id: str, status: str, **fields: Any) -> bool:
        """Move a run to ``status`` unless it has already ended; True when it moved."""
        if status == RunStatus.RUNNING:
            fields.setdefault("started_utc", time.time())
        if status in RunStatus.TERMINAL:
            fields.setdefault("ended_utc", time.time())
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

    def claim_owner(self, run_id: str, pid: int) -> None:
        """Record which process (here) now owns the run, for liveness checks."""
        self.update_run(
            run_id, pid=pid, pid_started=liveness.process_start_time(pid), host=liveness.HOST
        )

    def reap_dead_runs(self, run_id: str | None = None) -> None:
        """Mark Failed every active run whose owner process died (the heartbeat went stale).

        Called on reads, so a killed supervisor or notebook is noticed by whoever looks next.
        """
        now = time.time()
        if run_id is None:
            if now - self._last_reap < 1.0:
                return
            self._last_reap = now
        sql = (
            "SELECT id, status, pid, pid_started, host, child_pid, created_utc FROM runs"
            f" WHERE status IN ({','.join('?' * len(_ACTIVE))})"
        )
        params: tuple[Any, ...] = _ACTIVE
        if run_id is not None:
            sql += " AND id = ?"
            params = (*_ACTIVE, run_id)
        for row in self.db.query(sql, params):
            # A reader must never fail because of someone else's run: whatever goes wrong
            # here is logged and the run is looked at again on the next read.
            try:
                reason = self._death_reason(row, now)
                if reason:
                    self._bury(row, reason)
            except Exception:
                if row["id"] not in self._unburied:  # say it once, not on every read
                    self._unburied.add(row["id"])
                    log.exception("could not end run %s, whose owner died", row["id"])

    def _bury(self, row: sqlite3.Row, reason: str) -> None:
        """End a run whose owner died: Failed with the reason, its script stopped, metrics kept.

        Only bounded work happens here (it runs inside someone else's read): the summary of a
        big run's metrics is taken from the files' tails.
        """
        run_dir = self.runs_root / row["id"]
        try:
            self.save_metric_summary(row["id"], bounded_summary(run_dir / "metrics"))
        except Exception:  # the status below matters more than the summary
            log.exception("could not summarize the metrics of run %s", row["id"])
        if row["status"] == RunStatus.CANCEL_REQUESTED:
            self.set_status(row["id"], RunStatus.CANCELED)  # what was asked for, and got
        else:
            error = json.dumps({"message": reason, "code": "OwnerDied"})
            self.set_status(row["id"], RunStatus.FAILED, error=error)
        child = row["child_pid"]
        if child and row["host"] == liveness.HOST:
            try:
                if os.getpgid(child) == child:  # still the script's own process group
                    os.killpg(child, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass

    def _death_reason(self, row: sqlite3.Row, now: float) -> str | None:
        alive = liveness.is_alive(row["pid"], row["pid_started"], row["host"])
        if alive is False:
            return (
                f"The process that ran this run (pid {row['pid']}) ended without finishing it "
                "(killed, or the machine restarted)."
            )
        if alive is None and row["pid"]:
            beat = self.runs_root / row["id"] / "heartbeat"
            try:
                last = beat.stat().st_mtime
            except FileNotFoundError:
                last = row["created_utc"]
            if now - last > HEARTBEAT_TIMEOUT_S:
                return f"No heartbeat from the run's supervisor for {now - last:.0f} s."
        return None

    # tags and properties ------------------------------------------------------------------
    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        """Add or overwrite tags (checked against :mod:`.limits` first: all or nothing)."""
        checked = check_tags(tags)
        with self.db.transaction() as conn:
            count = conn.execute("SELECT COUNT(*) FROM run_tags WHERE run_id = ?", (run_id,))
            check_tag_count(count.fetchone()[0] + len(checked))
            conn.executemany(
                "INSERT OR REPLACE INTO run_tags (run_id, key, value) VALUES (?, ?, ?)",
                [(run_id, k, v) for k, v in checked.items()],
            )

    def remove_tags(self, run_id: str, keys: Iterable[str]) -> None:
        """Delete tags by key (unknown keys are ignored)."""
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM run_tags WHERE run_id = ? AND key = ?", [(run_id, k) for k in keys]
            )

    def tags_of(
        self, run_ids: list[str], max_chars: int | None = None
    ) -> dict[str, dict[str, str | None]]:
        """``{run_id: {key: value}}`` for the given runs (a page of a listing).

        ``max_chars``: values longer than that come cut to ``max_chars + 1`` characters (so
        the caller can tell they were cut), and SQLite never hands over the rest.
        """
        out: dict[str, dict[str, str | None]] = {}
        value = "value" if max_chars is None else f"substr(value, 1, {int(max_chars) + 1})"
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start : start + 500]
            rows = self.db.query(
                f"SELECT run_id, key, {value} AS value FROM run_tags"
                f" WHERE run_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            for r in rows:
                out.setdefault(r["run_id"], {})[r["key"]] = r["value"]
        return out

    def get_tags(self, run_id: str) -> dict[str, str | None]:
        """All tags of a run."""
        rows = self.db.query("SELECT key, value FROM run_tags WHERE run_id = ?", (run_id,))
        return {r["key"]: r["value"] for r in rows}

    def add_properties(self, run_id: str, properties: Mapping[str, Any]) -> None:
        """Add properties; changing an existing one is an error (they are immutable)."""
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
        """All properties of a run."""
        rows = self.db.query("SELECT key, value FROM run_properties WHERE run_id = ?", (run_id,))
        return {r["key"]: r["value"] for r in rows}

    # files --------------------------------------------------------------------------------
    def add_files(self, run_id: str, files: Iterable[tuple[str, str, int]]) -> None:
        """Record run files as ``(name, sha256, size)``; a name uploaded again is replaced."""
        with self.db.transaction() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO run_files (run_id, name, sha256, size) VALUES (?, ?, ?, ?)",
                [(run_id, n, s, z) for n, s, z in files],
            )

    def list_files(self, run_id: str) -> list[sqlite3.Row]:
        """The run's stored files, by name."""
        return self.db.query(
            "SELECT name, sha256, size FROM run_files WHERE run_id = ? ORDER BY name", (run_id,)
        )

    def get_file(self, run_id: str, name: str) -> sqlite3.Row | None:
        """One stored file of a run, or None."""
        return self.db.query_one(
            "SELECT name, sha256, size FROM run_files WHERE run_id = ? AND name = ?", (run_id, name)
        )

    # metric summaries ---------------------------------------------------------------------
    def save_metric_summary(self, run_id: str, summary: Mapping[str, tuple[Any, int]]) -> None:
        """Keep the last value of each scalar metric, for listings and sorting."""
        with self.db.transaction() as conn:
            conn.execute("DELETE FROM metric_summary WHERE run_id = ?", (run_id,))
            conn.executemany(
                "INSERT INTO metric_summary (run_id, name, last_value, count) VALUES (?, ?, ?, ?)",
                [(run_id, k, json.dumps(v), n) for k, (v, n) in summary.items()],
            )

    def metric_summaries(self, run_ids: list[str]) -> dict[str, dict[str, Any]]:
        """``{run_id: {metric: last value}}`` for the given runs."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(run_ids), 500):
            chunk = run_ids[start : start + 500]
            rows = self.db.query(
                "SELECT run_id, name, last_value FROM metric_summary"
                f" WHERE run_id IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            )
            for r in rows:
                out.setdefault(r["run_id"], {})[r["name"]] = json.loads(r["last_value"])
        return out

    # environments -------------------------------------------------------------------------
    def register_environment(self, name: str, spec_hash: str, spec: Mapping[str, Any]) -> int:
        """Store an environment; returns its version (the latest one when the spec is the same)."""
        text = json.dumps(spec, sort_keys=True)
        with self.db.transaction() as conn:
            latest = conn.execute(
                "SELECT version, spec FROM environments WHERE name = ? ORDER BY version DESC LIMIT 1",
                (name,),
            ).fetchone()
            if latest is not None and latest["spec"] == text:
                return int(latest["version"])
            version = 1 if latest is None else int(latest["version"]) + 1
            conn.execute(
                "INSERT INTO environments (name, version, hash, spec, created_utc)"
                " VALUES (?, ?, ?, ?, ?)",
                (name, version, spec_hash, text, time.time()),
            )
        return version

    def get_environment(self, name: str, version: int | None = None) -> sqlite3.Row | None:
        """One version of a registered environment (the latest when ``version`` is None)."""
        if version is None:
            return self.db.query_one(
                "SELECT * FROM environments WHERE name = ? ORDER BY version DESC LIMIT 1", (name,)
            )
        return self.db.query_one(
            "SELECT * FROM environments WHERE name = ? AND version = ?", (name, version)
        )

    def environment_versions(self) -> list[tuple[str, int]]:
        """Every (name, version) registered, by name then version."""
        rows = self.db.query("SELECT name, version FROM environments ORDER BY name, version")
        return [(r["name"], r["version"]) for r in rows]

    # snapshots ----------------------------------------------------------------------------
    def add_snapshot(self, snapshot_id: str, file_count: int, size: int) -> None:
        """Remember a snapshot manifest that is now in the blob store."""
        self.db.execute(
            "INSERT OR IGNORE INTO snapshots (id, file_count, size, created_utc) VALUES (?, ?, ?, ?)",
            (snapshot_id, file_count, size, time.time()),
        )

    def cached_hashes(self, paths: list[str]) -> dict[str, sqlite3.Row]:
        """Known hashes of files by absolute path, with the stat they were taken at."""
        out: dict[str, sqlite3.Row] = {}
        for start in range(0, len(paths), 500):
            chunk = paths[start : start + 500]
            for r in self.db.query(
                f"SELECT * FROM file_hashes WHERE path IN ({','.join('?' * len(chunk))})",
                tuple(chunk),
            ):
                out[r["path"]] = r
        return out

    def cache_hashes(self, rows: list[tuple[str, int, int, int, str]]) -> None:
        """Remember ``(path, size, mtime_ns, inode, sha256)`` so unchanged files are not re-read."""
        if rows:
            with self.db.transaction() as conn:
                conn.executemany(
                    "INSERT OR REPLACE INTO file_hashes (path, size, mtime_ns, inode, sha256)"
                    " VALUES (?, ?, ?, ?, ?)",
                    rows,
                )

    # compute targets ----------------------------------------------------------------------
    def compute_targets(self) -> list[sqlite3.Row]:
        """Registered compute targets (always at least ``local``)."""
        return self.db.query("SELECT name, type, config FROM compute_targets ORDER BY name")

    def attach_compute_target(self, name: str, kind: str, config: Mapping[str, Any]) -> None:
        """Add or replace a compute target (``local`` stays as it is)."""
        self.db.execute(
            "INSERT OR REPLACE INTO compute_targets (name, type, config) VALUES (?, ?, ?)",
            (name, kind, json.dumps(dict(config))),
        )

    def detach_compute_target(self, name: str) -> bool:
        """Forget a compute target; True when there was one."""
        cursor = self.db.execute("DELETE FROM compute_targets WHERE name = ?", (name,))
        return cursor.rowcount > 0


def bounded_summary(folder: Path) -> dict[str, tuple[Any, int]]:
    """The metric summary of a run, in bounded time: whole files when small, else their tails
    (a metric last logged before the tail is then missing, and counts are unknown: 0)."""
    size = sum(p.stat().st_size for p in folder.glob("*.jsonl")) if folder.is_dir() else 0
    if size <= _SUMMARY_READ_BYTES:
        return summarize_files(folder)
    return {name: (value, 0) for name, value in latest_values(folder, 1 << 20).items()}


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


def heartbeat(run_dir: Path) -> None:
    """Touch the run's heartbeat file: 'my owner is alive'."""
    path = run_dir / "heartbeat"
    try:
        os.utime(path)
    except FileNotFoundError:
        path.touch()

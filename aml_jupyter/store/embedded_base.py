"""What every part of the embedded store shares: its database, its run folders, and turning
SQLite rows into the typed records of :mod:`.types` (rows never leave ``store/``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from .base import WorkspaceStore
from .blobs import BlobStore
from .database import Database
from .types import RunRecord

#: The columns of a run record: the run's own and its experiment's name.
RUN_COLUMNS = "r.*, e.name AS experiment"
RUN_SOURCE = f"SELECT {RUN_COLUMNS} FROM runs r JOIN experiments e ON e.id = r.experiment_id"


class EmbeddedBase(WorkspaceStore):
    """The state the embedded store's parts (runs, listing, registry …) work on."""

    db: Database
    blobs: BlobStore
    runs_root: Path


def loads(text: str | None, default: Any) -> Any:
    """A JSON column's value (``default`` when empty or unreadable)."""
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def run_record(row: sqlite3.Row) -> RunRecord:
    """A run's row (``RUN_COLUMNS``) as a record."""
    error = row["error"]
    parsed = loads(error, None) if error else None
    if error and not isinstance(parsed, dict):  # written by hand or by an old version
        parsed = {"message": str(error)}
    definition = loads(row["definition"], {})
    return RunRecord(
        id=row["id"],
        experiment=row["experiment"],
        number=int(row["number"]),
        run_type=row["run_type"],
        status=row["status"],
        created_utc=row["created_utc"],
        display_name=row["display_name"],
        description=row["description"],
        parent_id=row["parent_id"],
        target=row["target"],
        definition=definition if isinstance(definition, dict) else {},
        snapshot_id=row["snapshot_id"],
        started_utc=row["started_utc"],
        ended_utc=row["ended_utc"],
        exit_code=row["exit_code"],
        error=parsed,
        pid=row["pid"],
        pid_started=row["pid_started"],
        host=row["host"],
        child_pid=row["child_pid"],
    )

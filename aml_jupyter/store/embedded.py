"""The embedded backend: a workspace folder holding SQLite metadata (``aml.db``), the blob
store (``blobs/``) and live run folders (``runs/``). Nothing to start; many processes share it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .blobs import BlobStore
from .catalog import Catalog
from .database import Database, create_database
from .datasets import DatasetRegistry
from .datastores import DatastoreRegistry
from .registry import ModelRegistry
from .run_listing import RunListing
from .run_records import RunRecords
from .run_streams import RunStreams
from .secrets import SecretStore
from .services import ServiceRegistry
from .types import ExperimentRecord
from .workspace_info import WorkspaceInfo

#: The metadata file inside a workspace folder.
DB_NAME = "aml.db"


class EmbeddedStore(
    WorkspaceInfo,
    DatastoreRegistry,  # before SecretStore: it builds on it
    SecretStore,
    RunRecords,
    RunListing,
    RunStreams,
    Catalog,
    ModelRegistry,
    ServiceRegistry,
    DatasetRegistry,
):
    """The workspace store of one folder (see :class:`.base.WorkspaceStore`)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.db = Database(folder / DB_NAME)
        self.blobs = BlobStore(folder / "blobs")
        self.runs_root = folder / "runs"
        self._counts = {}
        self._fts = (
            self.db.query_one(
                "SELECT 1 FROM sqlite_master WHERE name = 'run_search' AND sql LIKE '%fts5%'"
            )
            is not None
        )

    @staticmethod
    def create(folder: Path) -> None:
        """Make ``folder`` a workspace: its database with the current schema."""
        folder.mkdir(parents=True, exist_ok=True)
        create_database(folder / DB_NAME)

    # experiments --------------------------------------------------------------------------
    def ensure_experiment(self, name: str) -> None:
        if self.db.query_one("SELECT 1 FROM experiments WHERE name = ?", (name,)) is None:
            self.db.execute(
                "INSERT OR IGNORE INTO experiments (name, created_utc) VALUES (?, ?)",
                (name, time.time()),
            )

    def experiment_names(self) -> list[str]:
        return [r["name"] for r in self.db.query("SELECT name FROM experiments ORDER BY id")]

    def experiment_summaries(self) -> list[ExperimentRecord]:
        top = "FROM runs r WHERE r.experiment_id = e.id AND r.parent_id IS NULL"
        rows = self.db.query(
            f"SELECT e.name, e.created_utc, (SELECT COUNT(*) {top}) AS run_count,"
            f" (SELECT MAX(r.created_utc) {top}) AS last_run, e.archived"
            " FROM experiments e ORDER BY e.id"
        )
        return [
            ExperimentRecord(
                r["name"], r["created_utc"], int(r["run_count"]), r["last_run"], bool(r["archived"])
            )
            for r in rows
        ]

    # the connection -----------------------------------------------------------------------
    def close(self) -> None:
        self.db.close()

    @contextmanager
    def count_statements(self) -> Iterator[list[str]]:
        """A test hook: the SQL statements this store runs inside the ``with`` block."""
        seen: list[str] = []
        self.db.trace(seen.append)
        try:
            yield seen
        finally:
            self.db.trace(None)

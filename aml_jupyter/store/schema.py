"""The workspace's SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a database has had; opening a workspace
applies the missing ones in order, inside one transaction each. Never edit a shipped
migration: append a new one.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: experiments, runs, tags, properties, files, metric summaries, snapshots, targets.
    """
    CREATE TABLE experiments (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        created_utc REAL NOT NULL,
        archived INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        number INTEGER NOT NULL,
        parent_id TEXT REFERENCES runs(id),
        run_type TEXT NOT NULL,
        display_name TEXT,
        description TEXT,
        status TEXT NOT NULL,
        target TEXT,
        definition TEXT,
        snapshot_id TEXT,
        created_utc REAL NOT NULL,
        started_utc REAL,
        ended_utc REAL,
        pid INTEGER,
        pid_started TEXT,
        child_pid INTEGER,
        host TEXT,
        exit_code INTEGER,
        error TEXT
    );
    CREATE INDEX runs_by_experiment ON runs(experiment_id, created_utc DESC);
    CREATE INDEX runs_by_created ON runs(created_utc DESC);
    CREATE INDEX runs_by_parent ON runs(parent_id);
    CREATE INDEX runs_by_status ON runs(status);
    CREATE UNIQUE INDEX runs_number ON runs(experiment_id, number);
    CREATE TABLE run_tags (
        run_id TEXT NOT NULL REFERENCES runs(id),
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE INDEX run_tags_by_key ON run_tags(key, value);
    CREATE TABLE run_properties (
        run_id TEXT NOT NULL REFERENCES runs(id),
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE run_files (
        run_id TEXT NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        size INTEGER NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE metric_summary (
        run_id TEXT NOT NULL REFERENCES runs(id),
        name TEXT NOT NULL,
        last_value TEXT NOT NULL,
        count INTEGER NOT NULL,
        PRIMARY KEY (run_id, name)
    ) WITHOUT ROWID;
    CREATE TABLE snapshots (
        id TEXT PRIMARY KEY,
        file_count INTEGER NOT NULL,
        size INTEGER NOT NULL,
        created_utc REAL NOT NULL
    );
    CREATE TABLE file_hashes (
        path TEXT PRIMARY KEY,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        inode INTEGER NOT NULL,
        sha256 TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE compute_targets (
        name TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        config TEXT NOT NULL
    );
    INSERT INTO compute_targets (name, type, config) VALUES ('local', 'local', '{}');
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

"""The workspace's SQLite schema, as an ordered list of migrations.

``PRAGMA user_version`` holds how many migrations a database has had; opening a workspace
applies the missing ones in order, inside one transaction each. Never edit a shipped
migration: append a new one.
"""

from __future__ import annotations


def _has_trigram_search() -> bool:
    """Whether this SQLite has FTS5 with the trigram tokenizer (3.34 and newer, usually)."""
    import sqlite3

    try:
        sqlite3.connect(":memory:").execute(
            "CREATE VIRTUAL TABLE t USING fts5(x, tokenize = 'trigram')"
        )
    except sqlite3.Error:
        return False
    return True


#: An index of substrings where SQLite has one; else a narrow table that LIKE scans quickly.
_SEARCH_TABLE = (
    "CREATE VIRTUAL TABLE run_search USING fts5(text, tokenize = 'trigram')"
    if _has_trigram_search()
    else "CREATE TABLE run_search (rowid INTEGER PRIMARY KEY, text TEXT NOT NULL)"
)

#: What text search finds a run by (kept in ``run_search`` by the triggers of migration 2).
_SEARCH_TEXT = """
    r.id || ' ' || coalesce(r.display_name, '') || ' ' || e.name || ' ' ||
    coalesce(CASE WHEN json_valid(r.definition) THEN json_extract(r.definition, '$.script') END, '')
    || ' ' || coalesce((SELECT group_concat(t.key || '=' || coalesce(t.value, ''), ' ')
                        FROM run_tags t WHERE t.run_id = r.id), '')
"""
_SEARCH_FROM = "FROM runs r JOIN experiments e ON e.id = r.experiment_id"


#: Since migration 5 only this much of each tag key and value is searchable: big tags cost
#: the index (and every tag change re-indexes the run) in proportion to their size.
SEARCHED_TAG_CHARS = 256
_SEARCH_TEXT_5 = _SEARCH_TEXT.replace(
    "t.key || '=' || coalesce(t.value, '')",
    f"substr(t.key, 1, {SEARCHED_TAG_CHARS}) || '='"
    f" || substr(coalesce(t.value, ''), 1, {SEARCHED_TAG_CHARS})",
)


def _tag_trigger(name: str, event: str, row: str, text: str) -> str:
    """A trigger that re-indexes a run's search text when one of its tags changes."""
    return f"""
    CREATE TRIGGER {name} AFTER {event} ON run_tags BEGIN
        DELETE FROM run_search WHERE rowid = (SELECT rowid FROM runs WHERE id = {row}.run_id);
        INSERT INTO run_search (rowid, text)
            SELECT r.rowid, {text} {_SEARCH_FROM} WHERE r.id = {row}.run_id;
    END;"""


def _search_index(text: str) -> str:
    """Fill ``run_search`` with ``text`` of every run, and the triggers that keep it so when a
    run is added or renamed or its tags change (migration 2 made them, migration 5 redid them)."""
    return f"""
    INSERT INTO run_search (rowid, text) SELECT r.rowid, {text} {_SEARCH_FROM};
    CREATE TRIGGER run_search_add AFTER INSERT ON runs BEGIN
        INSERT INTO run_search (rowid, text)
            SELECT r.rowid, {text} {_SEARCH_FROM} WHERE r.rowid = NEW.rowid;
    END;
    CREATE TRIGGER run_search_rename AFTER UPDATE OF display_name, definition ON runs BEGIN
        DELETE FROM run_search WHERE rowid = OLD.rowid;
        INSERT INTO run_search (rowid, text)
            SELECT r.rowid, {text} {_SEARCH_FROM} WHERE r.rowid = NEW.rowid;
    END;
    {_tag_trigger("run_search_tag_add", "INSERT", "NEW", text)}
    {_tag_trigger("run_search_tag_change", "UPDATE", "NEW", text)}
    {_tag_trigger("run_search_tag_drop", "DELETE", "OLD", text)}"""


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
    # 2: what a live sidebar asks every second, answered from indexes at 100,000 runs:
    # top-level runs by time, experiment and status (counts, deep pages), run id with parent
    # (counts by tag), and a trigram index of each run's searchable text (id, name,
    # experiment, script, tags), kept by triggers.
    f"""
    CREATE INDEX runs_top_by_created ON runs(created_utc DESC) WHERE parent_id IS NULL;
    CREATE INDEX runs_top_by_experiment ON runs(experiment_id, created_utc DESC)
        WHERE parent_id IS NULL;
    CREATE INDEX runs_top_by_status ON runs(status) WHERE parent_id IS NULL;
    CREATE INDEX runs_id_parent ON runs(id, parent_id);
    {_SEARCH_TABLE};
    {_search_index(_SEARCH_TEXT)}
    CREATE TRIGGER run_search_drop AFTER DELETE ON runs BEGIN
        DELETE FROM run_search WHERE rowid = OLD.rowid;
    END;
    """,
    # 3: registered environments, one row per version.
    """
    CREATE TABLE environments (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        hash TEXT NOT NULL,
        spec TEXT NOT NULL,
        created_utc REAL NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    """,
    # 4: the model registry: versions per name, content in the blob store (a manifest of
    # files), lineage (run, experiment), tags and properties.
    """
    CREATE TABLE models (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        manifest TEXT NOT NULL,
        path TEXT NOT NULL,
        is_folder INTEGER NOT NULL,
        size INTEGER NOT NULL,
        file_count INTEGER NOT NULL,
        description TEXT,
        framework TEXT,
        framework_version TEXT,
        run_id TEXT,
        experiment TEXT,
        created_utc REAL NOT NULL,
        PRIMARY KEY (name, version)
    ) WITHOUT ROWID;
    CREATE INDEX models_by_run ON models(run_id) WHERE run_id IS NOT NULL;
    CREATE TABLE model_tags (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (name, version, key)
    ) WITHOUT ROWID;
    CREATE TABLE model_properties (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (name, version, key)
    ) WITHOUT ROWID;
    """,
    # 5: search only a bounded prefix of each tag (a 1 MB tag made a 64 MB trigram index and
    # held the write lock for minutes); the search text of existing runs is rebuilt.
    f"""
    DROP TRIGGER run_search_add;
    DROP TRIGGER run_search_rename;
    DROP TRIGGER run_search_tag_add;
    DROP TRIGGER run_search_tag_change;
    DROP TRIGGER run_search_tag_drop;
    DELETE FROM run_search;
    {_search_index(_SEARCH_TEXT_5)}
    """,
    # 6: deployed scoring services (their live files stay in services/<name>/). Workspaces
    # made before kept each spec in services/<name>/service.json: the pending import is done
    # once, by the first process that reads services (store/services.py), not in SQL.
    """
    CREATE TABLE services (
        name TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        created_utc REAL NOT NULL,
        updated_utc REAL NOT NULL
    );
    CREATE TABLE pending_imports (
        what TEXT PRIMARY KEY
    );
    INSERT INTO pending_imports (what) VALUES ('services');
    """,
    # 7: what v1's control plane keeps about a workspace and its experiments: the workspace's
    # identity (name, subscription, resource group from a v1 config.json), experiment tags
    # (experiments.archived exists since 1), and the key vault's secrets, encrypted (the key
    # is a file outside the workspace: store/secrets.py).
    """
    CREATE TABLE workspace_settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE experiment_tags (
        experiment_id INTEGER NOT NULL REFERENCES experiments(id),
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (experiment_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE secrets (
        name TEXT PRIMARY KEY,
        token BLOB NOT NULL,
        updated_utc REAL NOT NULL
    );
    """,
    # 8: registered datastores: their kind and settings (account, container, endpoint, bucket,
    # folder ...). Credentials are never here: they are the secret ``credentials_secret`` names
    # (encrypted, in ``secrets``). Which one is the default is the workspace setting
    # 'default_datastore' (none: workspaceblobstore).
    """
    CREATE TABLE datastores (
        name TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        config TEXT NOT NULL,
        credentials_secret TEXT,
        created_utc REAL NOT NULL
    );
    """,
    # 9: registered datasets. A version is pinned to content: its files (path relative to
    # the dataset's source, size, sha256) and their fingerprint. run_datasets is lineage:
    # which dataset versions a run read (input) and wrote (output); no foreign key to
    # datasets, so unregistering a name keeps what runs used.
    """
    CREATE TABLE datasets (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        kind TEXT NOT NULL,
        definition TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        file_count INTEGER NOT NULL,
        size INTEGER NOT NULL,
        description TEXT,
        created_utc REAL NOT NULL,
        UNIQUE (name, version)
    );
    CREATE TABLE dataset_tags (
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT,
        PRIMARY KEY (dataset_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE dataset_files (
        dataset_id TEXT NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        PRIMARY KEY (dataset_id, path)
    ) WITHOUT ROWID;
    CREATE TABLE run_datasets (
        run_id TEXT NOT NULL,
        direction TEXT NOT NULL CHECK (direction IN ('input', 'output')),
        name TEXT NOT NULL,
        dataset_id TEXT NOT NULL,
        PRIMARY KEY (run_id, direction, name)
    ) WITHOUT ROWID;
    CREATE INDEX run_datasets_by_dataset ON run_datasets(dataset_id);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)

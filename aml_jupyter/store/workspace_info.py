"""The embedded store's experiment-level and workspace-level records: experiment tags and
archiving (v1's ``Experiment.tag`` / ``archive`` / ``list(view_type=)``), and the workspace's
settings (its v1 identity and id)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AmlError
from .database import Database
from .limits import MAX_TAGS, check_tag_count, check_tags, check_text
from .types import ExperimentRecord


class WorkspaceInfo:
    """``find_experiments``, experiment tags and archiving, workspace settings."""

    db: Database

    def _experiment_id(self, name: str) -> int:
        row = self.db.query_one("SELECT id FROM experiments WHERE name = ?", (name,))
        if row is None:
            raise AmlError(
                f"No experiment named {name!r} in this workspace; Experiment(ws, {name!r}) "
                "creates it."
            )
        return int(row["id"])

    def find_experiments(
        self,
        name: str | None = None,
        archived: bool | None = False,
        tags: Mapping[str, str | None] | None = None,
    ) -> list[ExperimentRecord]:
        where: list[str] = []
        params: list[Any] = []
        if name is not None:
            where.append("e.name = ?")
            params.append(name)
        if archived is not None:
            where.append("e.archived = ?")
            params.append(int(archived))
        for key, value in (tags or {}).items():
            match = "" if value is None else " AND t.value = ?"
            where.append(
                "EXISTS (SELECT 1 FROM experiment_tags t WHERE t.experiment_id = e.id"
                f" AND t.key = ?{match})"
            )
            params.extend([key] if value is None else [key, value])
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        rows = self.db.query(
            f"SELECT e.name, e.created_utc, e.archived FROM experiments e{clause} ORDER BY e.id",
            tuple(params),
        )
        return [
            ExperimentRecord(r["name"], r["created_utc"], archived=bool(r["archived"]))
            for r in rows
        ]

    def set_experiment_archived(self, name: str, archived: bool) -> None:
        self.db.execute(
            "UPDATE experiments SET archived = ? WHERE id = ?",
            (int(archived), self._experiment_id(name)),
        )

    def set_experiment_tags(self, name: str, tags: Mapping[str, Any]) -> None:
        clean = check_tags(tags)
        experiment_id = self._experiment_id(name)
        with self.db.transaction() as conn:
            known = {
                r[0]
                for r in conn.execute(
                    "SELECT key FROM experiment_tags WHERE experiment_id = ?", (experiment_id,)
                )
            }
            check_tag_count(len(known | set(clean)))
            conn.executemany(
                "INSERT OR REPLACE INTO experiment_tags (experiment_id, key, value)"
                " VALUES (?, ?, ?)",
                [(experiment_id, k, v) for k, v in clean.items()],
            )

    def remove_experiment_tags(self, name: str, keys: Iterable[str]) -> None:
        experiment_id = self._experiment_id(name)
        with self.db.transaction() as conn:
            conn.executemany(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                [(experiment_id, str(k)) for k in keys],
            )

    def experiment_tags(self, name: str) -> dict[str, str | None]:
        rows = self.db.query(
            "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
            (self._experiment_id(name),),
        )
        return {r["key"]: r["value"] for r in rows}

    def workspace_settings(self) -> dict[str, str]:
        rows = self.db.query("SELECT key, value FROM workspace_settings ORDER BY key")
        return {r["key"]: r["value"] for r in rows}

    def set_workspace_settings(self, settings: Mapping[str, str], replace: bool = True) -> None:
        if len(settings) > MAX_TAGS:
            raise AmlError(f"At most {MAX_TAGS} workspace settings at once.")
        rows = [
            (check_text(str(k), "setting name", 256), check_text(str(v), f"setting {k!r}", 4096))
            for k, v in settings.items()
        ]
        verb = "INSERT OR REPLACE" if replace else "INSERT OR IGNORE"
        with self.db.transaction() as conn:
            conn.executemany(f"{verb} INTO workspace_settings (key, value) VALUES (?, ?)", rows)

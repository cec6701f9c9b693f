"""The embedded store's run listings: filters, sorting and pages in one indexed SQL query,
and counts (remembered until the database changes)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ..errors import AmlError
from .embedded_base import RUN_SOURCE, EmbeddedBase, run_record
from .types import RunRecord

#: A filter matching fewer rows than this is served from its own index (see list_runs).
RARE = 2000

SORT_COLUMNS = {"created": "created_utc", "started": "started_utc", "number": "number"}


class RunListing(EmbeddedBase):
    """Many runs at a time."""

    _counts: dict[str, tuple[tuple[int, int], int]]
    _fts: bool

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
        with_tags: bool = False,
    ) -> list[RunRecord]:
        """One indexed SQL query (and one for the page's tags ``with_tags``)."""
        column = SORT_COLUMNS.get(sort)
        if column is None:
            raise AmlError(f"Cannot sort runs by {sort!r}; choose one of {sorted(SORT_COLUMNS)}.")
        direction = "DESC" if descending else "ASC"
        order = f"r.{column} {direction}, r.rowid {direction}"
        source = RUN_SOURCE
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
            return self._records(self.db.query(sql, (*top_params, limit, offset)), with_tags)
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
        return self._records(self.db.query(sql, tuple(params)), with_tags)

    def _records(self, rows: list[Any], with_tags: bool) -> list[RunRecord]:
        records = [run_record(r) for r in rows]
        if not with_tags:
            return records
        tags = self.tags_of([r.id for r in records])
        return [r.with_tags(tags.get(r.id, {})) for r in records]

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

"""Runs as rows for people: the shared source of ``%aml_runs``, ``aml run list`` and the UI.

One indexed SQL page of runs plus the last value of each scalar metric, so a listing stays
fast in a workspace of 100,000 runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .targets import check_active_runs

if TYPE_CHECKING:
    import pandas as pd

    from ..store.types import RunRecord
    from .workspace import Workspace


def parse_tag(text: str) -> tuple[str, str | None]:
    """``key=value`` (or a bare ``key``, meaning no value / any value) as typed by a user."""
    from ..errors import AmlError

    key, sep, value = text.partition("=")
    if not key.strip():
        raise AmlError(f"Tag {text!r} has no key; write KEY=VALUE or KEY.")
    return key.strip(), value if sep else None


COLUMNS = [
    "run_id",
    "experiment",
    "number",
    "display_name",
    "status",
    "target",
    "created",
    "duration_s",
]


def list_runs(
    ws: Workspace,
    experiment: str | None = None,
    *,
    status: str | list[str] | None = None,
    tags: dict[str, str | None] | None = None,
    top: int | None = 50,
    offset: int = 0,
    include_children: bool = False,
    metrics: bool = True,
) -> list[dict[str, Any]]:
    """Newest runs first, each a flat dict (metrics as ``metric.<name>`` keys)."""
    from datetime import datetime

    rows = ws.store.list_runs(
        experiment=experiment,
        status=status,
        tags=tags,
        limit=top,
        offset=offset,
        include_children=include_children,
    )
    rows = check_active_runs(ws, rows)  # a run whose owner died shows as ended, with why
    ids = [r.id for r in rows]
    summaries = ws.store.metric_summaries(ids) if metrics else {}
    out = []
    for r in rows:
        end = r.ended_utc
        start = r.started_utc
        item: dict[str, Any] = {
            "run_id": r.id,
            "experiment": r.experiment,
            "number": r.number,
            "display_name": r.display_name or r.id,
            "status": r.status,
            "target": r.target,
            "created": datetime.fromtimestamp(r.created_utc).isoformat(sep=" ", timespec="seconds"),
            "duration_s": None if start is None or end is None else round(end - start, 3),
            "script": r.definition.get("script"),
        }
        for name, value in summaries.get(r.id, {}).items():
            item[f"metric.{name}"] = value
        out.append(item)
    return out


def run_page(
    ws: Workspace,
    experiment: str | None = None,
    *,
    status: str | list[str] | None = None,
    tags: dict[str, str | None] | None = None,
    text: str | None = None,
    parent_id: str | None = None,
    sort: str = "created",
    descending: bool = True,
    offset: int = 0,
    limit: int = 50,
    tag_chars: int | None = None,
) -> dict[str, Any]:
    """One page of runs for programs (the REST API, the sidebar) and how many match in all.

    ``tag_chars``: tag values longer than that come cut to ``tag_chars + 1`` characters.

    Rows keep machine values (epoch seconds, tags, the last value of each scalar metric: from
    the saved summary, or for a live run from its metric files' tails).
    """
    filters: dict[str, Any] = {
        "experiment": experiment,
        "status": status,
        "tags": tags,
        "text": text or None,
        "parent_id": parent_id,
    }
    rows = ws.store.list_runs(
        **filters, sort=sort, descending=descending, limit=limit, offset=offset
    )
    rows = check_active_runs(ws, rows)  # a run whose owner died shows as ended, with why
    # The first page of an unfiltered listing needs no count when it is not full.
    total = (
        offset + len(rows)
        if len(rows) < limit and (rows or offset == 0)
        else ws.store.count_runs(**filters)
    )
    ids = [r.id for r in rows]
    summaries = ws.store.metric_summaries(ids)
    tags_by_run = ws.store.tags_of(ids, tag_chars)
    out = [
        run_record(r, last_values(ws, r, summaries.get(r.id)), tags_by_run.get(r.id, {}))
        for r in rows
    ]
    return {"runs": out, "total": total, "offset": offset, "limit": limit}


def last_values(ws: Workspace, row: RunRecord, summary: dict[str, Any] | None) -> dict[str, Any]:
    """The last value of each scalar metric of a run: its saved summary, or for a live run
    (no summary yet) read from the tails of its metric files."""
    from ..status import RunStatus

    if summary is None and row.status not in RunStatus.TERMINAL:
        return ws.store.live_metric_values(row.id)
    return summary or {}


def run_record(
    row: RunRecord, metrics: dict[str, Any], tags: dict[str, str | None]
) -> dict[str, Any]:
    """A run's record as plain JSON-ready values."""
    start, end = row.started_utc, row.ended_utc
    return {
        "id": row.id,
        "experiment": row.experiment,
        "number": row.number,
        "display_name": row.display_name or row.id,
        "status": row.status,
        "target": row.target,
        "created_utc": row.created_utc,
        "started_utc": start,
        "ended_utc": end,
        "duration_s": None if start is None or end is None else round(end - start, 3),
        "parent_id": row.parent_id,
        "script": row.definition.get("script"),
        "tags": tags,
        "metrics": metrics,
    }


def runs_dataframe(ws: Workspace, experiment: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`list_runs` as a pandas DataFrame indexed by run id, metrics as columns."""
    import pandas as pd

    rows = list_runs(ws, experiment, **kwargs)
    frame = pd.DataFrame(rows, columns=None if rows else [*COLUMNS, "script"])
    frame.columns = [c.removeprefix("metric.") if isinstance(c, str) else c for c in frame.columns]
    return frame.set_index("run_id")

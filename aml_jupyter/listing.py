"""Runs as rows for people: the shared source of ``%aml_runs``, ``aml run list`` and the UI.

One indexed SQL page of runs plus the last value of each scalar metric, so a listing stays
fast in a workspace of 100,000 runs.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

    from .workspace import Workspace


def parse_tag(text: str) -> tuple[str, str | None]:
    """``key=value`` (or a bare ``key``, meaning no value / any value) as typed by a user."""
    from .errors import AmlError

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

    rows = ws.records.list_runs(
        experiment=experiment,
        status=status,
        tags=tags,
        limit=top,
        offset=offset,
        include_children=include_children,
    )
    ids = [r["id"] for r in rows]
    summaries = ws.records.metric_summaries(ids) if metrics else {}
    out = []
    for r in rows:
        end = r["ended_utc"]
        start = r["started_utc"]
        item: dict[str, Any] = {
            "run_id": r["id"],
            "experiment": r["experiment"],
            "number": r["number"],
            "display_name": r["display_name"] or r["id"],
            "status": r["status"],
            "target": r["target"],
            "created": datetime.fromtimestamp(r["created_utc"]).isoformat(
                sep=" ", timespec="seconds"
            ),
            "duration_s": None if start is None or end is None else round(end - start, 3),
            "script": json.loads(r["definition"] or "{}").get("script"),
        }
        for name, value in summaries.get(r["id"], {}).items():
            item[f"metric.{name}"] = value
        out.append(item)
    return out


def runs_dataframe(ws: Workspace, experiment: str | None = None, **kwargs: Any) -> pd.DataFrame:
    """:func:`list_runs` as a pandas DataFrame indexed by run id, metrics as columns."""
    import pandas as pd

    rows = list_runs(ws, experiment, **kwargs)
    frame = pd.DataFrame(rows, columns=None if rows else [*COLUMNS, "script"])
    frame.columns = [c.removeprefix("metric.") if isinstance(c, str) else c for c in frame.columns]
    return frame.set_index("run_id")

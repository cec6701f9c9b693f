"""HTML for :class:`~aml_jupyter.frontends.widgets.RunDetails`: status badges, tables, the log box.

Plain functions from data to an HTML string, shown in standard ``ipywidgets.HTML`` widgets
(no custom JavaScript, so the view renders wherever ipywidgets 8 does). Everything that comes
from a run (names, log text, tag values, table cells) is escaped. Colours read well on light
and dark notebook themes: text and borders use JupyterLab's CSS variables (with fallbacks),
never a hard-coded black or white.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from ...status import RunStatus
from .charts import format_value

if TYPE_CHECKING:
    from .feed import TableMetric

#: Icon and badge colour per status: grey waiting, blue working, green/red/grey ended.
STATUS_LOOK: dict[str, tuple[str, str]] = {
    RunStatus.NOT_STARTED: ("○", "#757575"),
    RunStatus.QUEUED: ("◔", "#757575"),
    RunStatus.PREPARING: ("◑", "#8d6e63"),
    RunStatus.STARTING: ("◕", "#8d6e63"),
    RunStatus.RUNNING: ("▶", "#1565c0"),
    RunStatus.FINALIZING: ("⏳", "#6a1b9a"),
    RunStatus.CANCEL_REQUESTED: ("⏳", "#ef6c00"),
    RunStatus.COMPLETED: ("✔", "#2e7d32"),
    RunStatus.FAILED: ("✖", "#c62828"),
    RunStatus.CANCELED: ("■", "#616161"),
}
# JupyterLab's theme variables (Notebook 7 has them too), each with a fallback that reads on
# light and dark alike where they are missing (VS Code): no hard-coded black or white text
# on the page (only on the status badge, over its own colour).
_TEXT = "var(--jp-ui-font-color1, inherit)"
_MUTED = "var(--jp-ui-font-color2, inherit)"
_PANEL = "var(--jp-layout-color2, rgba(128,128,128,0.07))"
_BORDER = "1px solid var(--jp-border-color2, rgba(128,128,128,0.35))"
_CELL = f"padding:2px 8px;border-bottom:{_BORDER};text-align:left;vertical-align:top"
#: Rows shown in a table before "… N more".
MAX_TABLE_ROWS = 200


def status_badge(status: str | None) -> str:
    """The status as a coloured badge with an icon (the status word is in the text)."""
    icon, colour = STATUS_LOOK.get(status or "", ("?", "#757575"))
    return (
        f'<span style="background:{colour};color:#fff;border-radius:4px;padding:2px 10px;'
        f'font-weight:600;white-space:nowrap">{icon} {escape(status or "Unknown")}</span>'
    )


def duration_text(seconds: float | None) -> str:
    """``42 s``, ``3 min 05 s``, ``2 h 03 min 05 s``; ``-`` before the run starts."""
    if seconds is None:
        return "-"
    total = int(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min {secs:02d} s"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s" if total >= 10 else f"{seconds:.1f} s"


def duration_html(seconds: float | None) -> str:
    """The duration, for the header (ticks while the run goes on). Plain text: an emoji clock
    shows as a box where the front end's fonts lack it."""
    return f'<span title="Duration" style="white-space:nowrap">{duration_text(seconds)}</span>'


def human_size(size: int | None) -> str:
    """Bytes as ``12.3 KB``; ``live`` for a file still in the run's working folder."""
    if size is None:
        return "live"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"


def _table(headers: list[str], rows: list[list[str]], note: str = "") -> str:
    """An HTML table from already-escaped cells."""
    head = "".join(f'<th style="{_CELL}">{h}</th>' for h in headers)
    body = "".join(
        "<tr>" + "".join(f'<td style="{_CELL}">{c}</td>' for c in r) + "</tr>" for r in rows
    )
    extra = f'<div style="opacity:.7;font-size:90%">{note}</div>' if note else ""
    return (
        f'<table style="border-collapse:collapse;color:{_TEXT}"><tr>{head}</tr>{body}</table>'
        f"{extra}"
    )


def title_html(details: dict[str, Any]) -> str:
    """The run's name, its id (when the name differs) and its experiment, on one line."""
    name = details.get("displayName") or details.get("runId", "")
    run_id = details.get("runId", "")
    ident = "" if name == run_id else f' <code style="opacity:.75">{escape(run_id)}</code>'
    return (
        f'<span style="font-size:115%;font-weight:600">{escape(name)}</span>{ident}'
        f' <span style="opacity:.75">in experiment</span> '
        f"<b>{escape(str(details.get('experiment', '')))}</b>"
    )


def command_text(details: dict[str, Any]) -> str:
    """What the run executes: ``script.py --lr 0.1`` or its command; '' when unknown."""
    definition = details.get("runDefinition") or {}
    arguments = [str(a) for a in definition.get("arguments") or []]
    command = definition.get("command")
    if command is not None:
        base = command if isinstance(command, str) else " ".join(str(c) for c in command)
    else:
        base = definition.get("script") or ""
    return " ".join([base, *arguments]).strip()


def tags_html(tags: dict[str, Any]) -> str:
    """Tags as small chips (``key`` or ``key: value``)."""
    if not tags:
        return '<span style="opacity:.6">none</span>'
    chips = []
    for key, value in sorted(tags.items()):
        text = escape(str(key)) + ("" if value in (None, "") else f": {escape(str(value))}")
        chips.append(
            f'<span style="border:{_BORDER};border-radius:10px;padding:0 8px;margin-right:4px;'
            f'white-space:nowrap">{text}</span>'
        )
    return "".join(chips)


def details_html(details: dict[str, Any], local_time: Any) -> str:
    """Target, start and end times, the script and its arguments, tags."""
    rows = [
        ["Target", escape(str(details.get("target") or "-"))],
        ["Started", escape(local_time(details.get("startTimeUtc")))],
    ]
    if details.get("endTimeUtc"):
        rows.append(["Ended", escape(local_time(details.get("endTimeUtc")))])
    command = command_text(details)
    if command:
        rows.append(["Script", f"<code>{escape(command)}</code>"])
    rows.append(["Tags", tags_html(details.get("tags") or {})])
    cells = "".join(
        f'<tr><td style="padding:1px 10px 1px 0;opacity:.7;vertical-align:top">{k}</td>'
        f'<td style="padding:1px 0">{v}</td></tr>'
        for k, v in rows
    )
    return f"<table>{cells}</table>"


def log_html(text: str, truncated: bool) -> str:
    """The log tail in a scrolling box that stays scrolled to its end (CSS only, no JS)."""
    note = (
        '<div style="opacity:.6">… earlier lines: user_logs/std_log.txt in Files</div>'
        if truncated
        else ""
    )
    body = escape(text) if text else '<span style="opacity:.6">(no output yet)</span>'
    # column-reverse anchors the scroll position at the bottom, as a terminal does.
    return (
        f'<div style="max-height:22em;overflow:auto;display:flex;flex-direction:column-reverse;'
        f"border:{_BORDER};border-radius:4px;background:{_PANEL};"
        f'color:var(--jp-content-font-color1, inherit)">'
        f'<div>{note}<pre style="margin:0;padding:6px 8px;white-space:pre-wrap;color:inherit;'
        f"font-family:var(--jp-code-font-family, monospace);"
        f'font-size:12px;line-height:1.35">{body}</pre></div></div>'
    )


#: The summary table's sections: (key in RunFeed.summary(), heading).
SUMMARY_SECTIONS = (("arguments", "Arguments"), ("metrics", "Metrics"), ("tags", "Tags"))


def summary_html(summary: dict[str, dict[str, Any]]) -> str:
    """The run at a glance (as MLflow's parameters or W&B's run summary): its arguments,
    the metrics logged once and its tags, name -> value; '' when there is none of them."""
    rows = []
    for key, heading in SUMMARY_SECTIONS:
        items = summary.get(key) or {}
        if not items:
            continue
        rows.append(
            f'<tr><th colspan="2" style="{_CELL};color:{_MUTED};font-weight:600;'
            f'padding-top:6px">{heading}</th></tr>'
        )
        for name, value in items.items():
            shown = "" if value is None and key == "tags" else format_value(value, 200)
            rows.append(
                f'<tr data-summary="{escape(key, quote=True)}">'
                f'<td style="{_CELL};color:{_MUTED}">{escape(str(name))}</td>'
                f'<td style="{_CELL};color:{_TEXT}"><code style="color:inherit;'
                f'background:none">{escape(shown)}</code></td></tr>'
            )
    if not rows:
        return ""
    return (
        f'<table class="aml-summary" style="border-collapse:collapse;color:{_TEXT};'
        f'margin:4px 0">{"".join(rows)}</table>'
    )


def chart_title_html(name: str, series: Any = None) -> str:
    """A chart's heading: the metric's name and, once drawn, its last value and x axis."""
    facts = ""
    if series is not None:
        axis = "step" if series.stepped else "index"
        facts = (
            f' <span style="color:{_MUTED}">last {escape(format_value(series.last))}'
            f" · {series.count:,} points · x = {axis}</span>"
        )
    return (
        f'<div style="color:{_TEXT};font-size:12px;white-space:nowrap;overflow:hidden;'
        f'text-overflow:ellipsis" title="{escape(name, quote=True)}"><b>{escape(name)}</b>'
        f"{facts}</div>"
    )


def values_html(values: dict[str, Any]) -> str:
    """Every metric's last value, as a two-column table."""
    rows = [[escape(name), escape(format_value(value))] for name, value in values.items()]
    return _table(["Metric", "Last value"], rows)


def table_html(table: TableMetric) -> str:
    """A logged table: a pandas DataFrame as HTML (JSON when it is not columns of cells)."""
    if table.other is None:
        try:
            return _frame_html(table.columns)
        except (TypeError, ValueError):  # cells pandas will not take: show the JSON instead
            pass
    text = json.dumps(table.data(), indent=1, default=str)
    return f'<pre style="max-height:20em;overflow:auto;color:{_TEXT}">{escape(text)}</pre>'


def _frame_html(columns: dict[str, list[Any]]) -> str:
    import pandas as pd

    rows = max((len(cells) for cells in columns.values()), default=0)
    hidden = rows - MAX_TABLE_ROWS
    # The newest rows: a table logged row by row grows at the bottom.
    frame = pd.DataFrame({k: v[-MAX_TABLE_ROWS:] for k, v in columns.items()})
    html = frame.to_html(index=False, escape=True, border=0, na_rep="")
    note = f'<div style="opacity:.7">… {hidden} earlier rows not shown</div>' if hidden > 0 else ""
    return f'{note}<div style="max-height:24em;overflow:auto;color:{_TEXT}">{html}</div>'


def children_html(children: list[dict[str, Any]], now: float) -> str:
    """Child runs: name, status badge, duration, last metric values."""
    if not children:
        return '<span style="opacity:.6">No child runs.</span>'
    rows = []
    for child in children[-MAX_TABLE_ROWS:]:
        started, ended = child["started"], child["ended"]
        seconds = None if started is None else (ended or now) - started
        metrics = ", ".join(f"{k}={format_value(v)}" for k, v in child["metrics"].items())
        rows.append(
            [
                escape(child["display_name"]),
                status_badge(child["status"]),
                duration_text(seconds),
                escape(metrics if len(metrics) <= 300 else metrics[:299] + "…"),
            ]
        )
    hidden = len(children) - len(rows)
    note = f"… {hidden} earlier child runs not shown" if hidden > 0 else ""
    return _table(["Run", "Status", "Duration", "Last metrics"], rows, note)


def files_html(files: list[tuple[str, int | None]]) -> str:
    """The run's files with their sizes."""
    if not files:
        return '<span style="opacity:.6">No files yet.</span>'
    rows = [[f"<code>{escape(name)}</code>", human_size(size)] for name, size in files]
    return f'<div style="max-height:24em;overflow:auto">{_table(["File", "Size"], rows)}</div>'


def error_html(error: dict[str, Any], log_tail: str) -> str:
    """A failed run's error: message, code, exit code and the log's last lines."""
    exit_code = error.get("exit_code")
    facts = f"code {escape(str(error.get('code', '')))}" + (
        f", exit code {escape(str(exit_code))}" if exit_code is not None else ""
    )
    tail = (
        f'<div style="margin-top:4px;opacity:.8">Last lines of the log:</div>'
        f'<pre style="margin:2px 0 0 0;white-space:pre-wrap;font-size:12px">{escape(log_tail)}</pre>'
        if log_tail
        else ""
    )
    return (
        f'<div style="border-left:4px solid #c62828;background:rgba(198,40,40,0.08);'
        f'padding:6px 10px;margin:4px 0">'
        f'<div style="font-weight:600;color:#c62828">{escape(str(error.get("message", "")))}</div>'
        f'<div style="opacity:.8">{facts}</div>{tail}</div>'
    )

"""What every ``aml`` command group shares: output helpers, argument types, the workspace."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

#: Longest cell in a text table; longer values are cut with an ellipsis.
MAX_CELL = 40


# output helpers -------------------------------------------------------------------------------
def _note(text: str) -> None:
    """A line for people, on stderr (stdout stays clean for scripts)."""
    print(f"aml: {text}", file=sys.stderr, flush=True)


def _json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


def _when(ts: float | None) -> str:
    """A unix time as local ``YYYY-MM-DD HH:MM:SS`` (as ``list_runs`` writes ``created``)."""
    if ts is None:
        return "-"
    from datetime import datetime

    return datetime.fromtimestamp(ts).isoformat(sep=" ", timespec="seconds")


def _duration(seconds: float | None) -> str:
    """``4.2s``, ``3m05s`` or ``2h07m``; ``-`` for a run that has not ended."""
    if seconds is None:
        return "-"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def _value(value: Any) -> str:
    """A metric (or any) value as a short string."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, (bool, int, str)):
        return str(value)
    if isinstance(value, list):
        return f"[{len(value)} values, last {_value(value[-1])}]" if value else "[]"
    if isinstance(value, dict):
        return "{" + ", ".join(str(k) for k in value) + "}"
    return str(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _table(headers: list[str], rows: list[list[Any]], texts: list[list[str]]) -> str:
    """An aligned text table; columns whose values are all numbers are right-aligned."""
    cells = [[t if len(t) <= MAX_CELL else t[: MAX_CELL - 1] + "…" for t in row] for row in texts]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]
    numeric = [
        all(_is_number(r[i]) or r[i] is None for r in rows) and any(_is_number(r[i]) for r in rows)
        for i in range(len(headers))
    ]

    def line(items: list[str]) -> str:
        parts = [
            item.rjust(w) if num else item.ljust(w)
            for item, w, num in zip(items, widths, numeric, strict=True)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in cells)])


# argument types -------------------------------------------------------------------------------
def _tag(text: str) -> tuple[str, str | None]:
    """``key=value`` (or a bare ``key``) from the command line."""
    from ...errors import AmlError
    from ...tracking.query import parse_tag

    try:
        return parse_tag(text)
    except AmlError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _status(text: str) -> str:
    """A run status, any case (``completed`` → ``Completed``)."""
    from ...errors import AmlError
    from ...status import RunStatus

    try:
        return RunStatus.parse(text)
    except AmlError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _count(text: str) -> int:
    """A whole number >= 0."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number >= 0")
    return value


def _seconds(text: str) -> float:
    """A number of seconds >= 0."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds >= 0")
    return value


# workspace and run lookup ---------------------------------------------------------------------
def _workspace(args: argparse.Namespace) -> Workspace:
    """The existing workspace ``-w`` (or ``$AML_WORKSPACE``, or the nearest ``.aml`` from the
    current folder up) leads to. None there is an ``AmlError`` saying how to make one: commands
    that only read or change what a workspace holds never create one (exit code 2)."""
    from ...errors import AmlError
    from ...store import is_server_address
    from ...tracking.workspace import DB_NAME, ENV_VAR, Workspace

    path = args.workspace
    if path and is_server_address(path):
        return Workspace(path)  # says that a team workspace server cannot be opened yet
    folder = Workspace.find(path)
    if folder is not None and (folder / DB_NAME).is_file():
        return Workspace(folder)
    env = os.environ.get(ENV_VAR)
    if path:
        where = f"{path} (-w) or its parents"
    elif env:
        where = f"{env} (${ENV_VAR})"
    else:
        where = f"{os.getcwd()} or its parents"
    raise AmlError(
        f"No workspace in {where}. Make one with `aml workspace create` in the project folder, "
        f"or point to one with -w PATH or ${ENV_VAR}."
    )


def _workspace_or_create(args: argparse.Namespace) -> Workspace:
    """The workspace :func:`_workspace` finds, or a new ``.aml`` where the search started (for
    ``aml run submit-script``: the first run needs no setup); one stderr line says so."""
    from ...tracking.workspace import Workspace

    ws, created = Workspace.from_config_or_create(args.workspace)
    if created:
        _note(f"no workspace found; created {ws.folder}")
    return ws


# parser helpers -------------------------------------------------------------------------------
def command_group(groups: Any, name: str, **kwargs: Any) -> Any:
    """``aml NAME``: a group of commands (alone, it prints its help); its subcommands' parsers."""
    parser = groups.add_parser(name, **kwargs)
    parser.set_defaults(parser=parser)
    return parser.add_subparsers(title=f"{name} commands", metavar="COMMAND")


def command(
    cmds: Any, name: str, func: Any, *parents: argparse.ArgumentParser, **kwargs: Any
) -> argparse.ArgumentParser:
    """``aml GROUP NAME``, run by ``func(args)``; ``parents`` add shared options (``-w``)."""
    parser = cmds.add_parser(name, parents=list(parents), **kwargs)
    parser.set_defaults(func=func, parser=parser)
    return parser

"""What every ``%aml_*`` magic shares: friendly errors, parsing its line, finding the workspace
and runs, and building one ``Magics`` class from parts.

Only IPython and the standard library are imported here; the rest of aml_jupyter loads inside
the helpers, when a magic first needs it.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from IPython.core.error import UsageError
from IPython.core.magic import Magics, magics_class
from IPython.core.magic_arguments import real_name

if TYPE_CHECKING:
    from ...tracking.run import Run
    from ...tracking.workspace import Workspace

_MagicsType = TypeVar("_MagicsType", bound=type[Magics])


def magics_of_parts(cls: _MagicsType) -> _MagicsType:
    """``@magics_class`` for a class built from ``@magics_class`` parts (its bases).

    IPython records only the magics defined in a class's own body, so the parts' magics are
    merged in; a part nearer in the MRO wins, and the class's own magics win over all.
    """
    cls = magics_class(cls)
    merged: dict[str, dict[str, Any]] = {kind: {} for kind in cls.magics}
    for part in reversed(cls.__mro__[1:]):
        for kind, table in part.__dict__.get("magics", {}).items():
            merged.setdefault(kind, {}).update(table)
    for kind, table in cls.magics.items():
        merged[kind].update(table)
    cls.magics = merged
    return cls


def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into one ``aml: ...`` line on stderr and a None result.

    User errors are :class:`aml_jupyter.AmlError` and IPython's ``UsageError`` (bad options).
    Anything else is a bug and keeps its traceback.
    """
    name = real_name(func)

    @functools.wraps(func)
    def wrapper(self: Magics, *args: Any) -> Any:
        from ...errors import AmlError

        try:
            return func(self, *args)
        except UsageError as exc:
            print(f"aml: %{name}: {exc} (%{name}? lists the options)", file=sys.stderr)
        except AmlError as exc:
            print(f"aml: {exc}", file=sys.stderr)
        return None

    wrapper.__doc__ = readable_help(func.__doc__)
    return wrapper


_SECTIONS = ("positional arguments:", "options:", "optional arguments:")


def readable_help(doc: str | None) -> str | None:
    """A magic's help (``%aml_submit?``) that starts with what it does: IPython's
    ``magic_arguments`` writes it as reST, a ``::`` line and the usage first."""
    if not doc or not doc.lstrip().startswith("::"):
        return doc
    lines = doc.lstrip()[2:].lstrip("\n").split("\n")
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    usage, rest = lines[:end], lines[end:]
    cut = next((i for i, line in enumerate(rest) if line.strip() in _SECTIONS), len(rest))
    description = "\n".join(rest[:cut]).strip()
    options = "\n".join(rest[cut:]).strip()
    usage_text = "\n".join(line[2:] if line.startswith("  ") else line for line in usage)
    parts = [description, f"Usage:\n  {usage_text.strip()}", options]
    return "\n\n".join(p for p in parts if p) + "\n"


def _split_line(line: str) -> tuple[list[str], list[str]]:
    """Split a magic's line into its own tokens and the script's (everything after ``--``).

    Quotes work as in a POSIX shell: ``--name "first try"`` is one token, without its quotes.
    """
    try:
        tokens = shlex.split(line, posix=os.name != "nt")
    except ValueError as exc:  # an unbalanced quote
        raise UsageError(f"cannot split the line: {exc}") from None
    if "--" in tokens:
        cut = tokens.index("--")
        return tokens[:cut], tokens[cut + 1 :]
    return tokens, []


def _parse(func: Callable[..., Any], line: str) -> Any:
    """Parse ``line`` with the ``magic_arguments`` parser of ``func``; ``.script_args`` gets
    whatever follows ``--``."""
    own, script_args = _split_line(line)
    args = func.parser.parse_args(own)  # type: ignore[attr-defined]
    if not hasattr(args, "script_args"):
        if script_args:
            raise UsageError(f"unexpected -- {' '.join(script_args)}")
        return args
    if args.script_args:
        raise UsageError(
            f"unexpected {' '.join(args.script_args)!r}: put the script's arguments after --, "
            "e.g. %aml_submit train.py -- --lr 0.1"
        )
    args.script_args = script_args
    return args


def _tags(items: list[str] | None) -> dict[str, str | None] | None:
    """``['k=v', 'flag']`` -> ``{'k': 'v', 'flag': None}`` (None for no --tag at all)."""
    from ...tracking.query import parse_tag

    return dict(parse_tag(item) for item in items) if items else None


def _workspace(path: str | None, create: bool = True) -> Workspace:
    """The workspace at ``path`` (default: found from here); with ``create``, a new ``./.aml``
    when there is none, announced in one line."""
    from ...tracking.workspace import Workspace

    if not create:
        return Workspace.from_config(path)
    ws, created = Workspace.from_config_or_create(path)
    if created:
        print(f"Created a new workspace in {ws.folder}")
    return ws


def _status_filter(values: list[str] | None) -> list[str] | None:
    """Status names from ``--status`` (repeatable, comma-separated, any case), checked."""
    from ...status import RunStatus

    parts = [p for value in values or [] for p in value.split(",") if p.strip()]
    return [RunStatus.parse(p) for p in parts] or None


def _widgets_render(shell: Any) -> bool:
    """Whether a widget shown here reaches a front end that renders it (a Jupyter kernel);
    a terminal IPython gets text instead."""
    return type(shell).__name__ == "ZMQInteractiveShell"


def _runs(ws: Workspace, ids: list[str]) -> list[Run]:
    """Runs by id (or prefix); with none given, the newest run of the workspace."""
    from ...errors import AmlError

    if ids:
        return [ws.get_run(run_id) for run_id in ids]
    newest = ws.store.list_runs(limit=1)
    if not newest:
        raise AmlError("This workspace has no runs yet; submit one with %aml_submit.")
    return [ws.get_run(newest[0].id)]

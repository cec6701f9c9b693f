"""``aml workspace ...`` and ``aml experiment list``: make or describe a workspace, list its
experiments."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _json, _note, _table, _when, _workspace, command, command_group


def cmd_workspace_create(args: argparse.Namespace) -> int:
    """``aml workspace create [PATH]``: make (or keep) a workspace; prints its folder."""
    from ...tracking.workspace import Workspace

    ws = Workspace.create(args.path or args.workspace or ".")
    print(ws.folder)
    return 0


def cmd_workspace_show(args: argparse.Namespace) -> int:
    """``aml workspace show``: name, folder and how many experiments and runs it holds."""
    ws = _workspace(args)
    summaries = ws.store.experiment_summaries()
    info = {
        "name": ws.name,
        "folder": str(ws.folder),
        "experiments": len(summaries),
        "runs": sum(r.run_count for r in summaries),
    }
    if args.json:
        _json(info)
    else:
        for key, value in info.items():
            print(f"{key + ':':<13}{value}")
    return 0


def cmd_experiment_list(args: argparse.Namespace) -> int:
    """``aml experiment list``: every experiment with its run count and latest run."""
    ws = _workspace(args)
    rows = [
        {
            "name": r.name,
            "runs": r.run_count,
            "last_run": _when(r.last_run_utc) if r.last_run_utc is not None else None,
            "created": _when(r.created_utc),
        }
        for r in ws.store.experiment_summaries()
    ]
    if args.json:
        _json(rows)
    elif not rows:
        _note("no experiments yet; `aml run submit-script SCRIPT` makes one")
    else:
        values = [[r["name"], r["runs"], r["last_run"]] for r in rows]
        texts = [[str(v) if v is not None else "-" for v in row] for row in values]
        print(_table(["EXPERIMENT", "RUNS", "LAST RUN"], values, texts))
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml workspace`` and ``aml experiment`` groups; ``common`` holds ``-w``."""
    # aml workspace ...
    ws_cmds = command_group(groups, "workspace", help="create or describe a workspace")
    p = command(
        ws_cmds,
        "create",
        cmd_workspace_create,
        common,
        help="create a workspace (PATH/.aml); prints its folder",
    )
    p.add_argument(
        "path", nargs="?", metavar="PATH", help="project folder to hold .aml (default: here)"
    )
    p = command(
        ws_cmds, "show", cmd_workspace_show, common, help="name, folder, experiment and run counts"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    # aml experiment ...
    exp_cmds = command_group(groups, "experiment", help="list the workspace's experiments")
    p = command(exp_cmds, "list", cmd_experiment_list, common, help="experiments with run counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

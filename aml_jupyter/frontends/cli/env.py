"""``aml env ...``: the workspace's registered environments, and one's whole spec."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _json, _note, _table, _workspace


def cmd_env_list(args: argparse.Namespace) -> int:
    """``aml env list``: registered environments, whether each is built."""
    from ...environments.environment import environment_rows

    rows = environment_rows(_workspace(args))
    if args.json:
        _json(rows)
    elif not rows:
        _note("no environments yet; Environment(...).register(ws) makes one")
    else:
        columns = ["name", "version", "kind", "python", "packages", "hash", "built"]
        values = [[r[c] for c in columns] for r in rows]
        texts = [["-" if v is None else str(v) for v in row] for row in values]
        print(_table([c.upper() for c in columns], values, texts))
    return 0


def cmd_env_show(args: argparse.Namespace) -> int:
    """``aml env show NAME[:VERSION]``: the environment's whole spec as JSON."""
    from ...environments.environment import resolve_environment

    env = resolve_environment(_workspace(args), args.name)
    assert env is not None
    _json(env._spec())
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml env`` group; ``common`` holds ``-w``."""
    env_parser = groups.add_parser("env", help="registered environments")
    env_parser.set_defaults(parser=env_parser)
    env_cmds = env_parser.add_subparsers(title="env commands", metavar="COMMAND")
    p = env_cmds.add_parser("list", parents=[common], help="latest version of each environment")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_env_list, parser=p)
    p = env_cmds.add_parser("show", parents=[common], help="one environment's spec (JSON)")
    p.add_argument("name", metavar="NAME[:VERSION]")
    p.set_defaults(func=cmd_env_show, parser=p)

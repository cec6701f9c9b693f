"""``aml compute ...`` and ``aml instance serve``: attach, list and detach compute targets, and
run the compute-instance agent. Thin, like the rest of the CLI: each calls the Python API."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _json, _note, _table, _workspace, command, command_group


def cmd_compute_list(args: argparse.Namespace) -> int:
    """``aml compute list``: every target with its address and whether it answers."""
    rows = []
    for target in _workspace(args).compute_targets.values():
        rows.append(
            {
                "name": target.name,
                "type": target.type,
                "address": target.config.get("address"),
                "status": target.get_status(),
            }
        )
    if args.json:
        _json(rows)
        return 0
    columns = ["name", "type", "address", "status"]
    values = [[r[c] for c in columns] for r in rows]
    texts = [["-" if v is None else str(v) for v in row] for row in values]
    print(_table([c.upper() for c in columns], values, texts))
    return 0


def cmd_compute_attach(args: argparse.Namespace) -> int:
    """``aml compute attach NAME --address URL``: register an agent or a Ray cluster."""
    from ...compute.instance.agent import read_token
    from ...errors import AmlError

    ws = _workspace(args)
    target: Any
    if args.type == "cluster":
        from ...compute.cluster.target import ComputeCluster

        target = ComputeCluster.attach(ws, args.name, args.address)
    else:
        from ...compute.instance.target import ComputeInstance

        if args.token_file:
            token = read_token(args.token_file)
        elif args.token:
            token = args.token
        else:
            raise AmlError(
                "A compute instance needs its agent's token: --token-file F (the file given to "
                "`aml instance serve`) or --token T."
            )
        target = ComputeInstance.attach(ws, args.name, args.address, token, args.ca_file)
    print(target.name)
    _note(f"attached {target.type} {target.name!r} at {target.config['address']}")
    return 0


def cmd_compute_detach(args: argparse.Namespace) -> int:
    """``aml compute detach NAME``: forget a target (the machine itself is left alone)."""
    from ...compute import ComputeTarget

    ComputeTarget(_workspace(args), args.name).detach()
    _note(f"detached {args.name!r}")
    return 0


def cmd_instance_serve(args: argparse.Namespace) -> int:
    """``aml instance serve``: run the compute-instance agent until stopped."""
    from ...compute.instance.agent import serve

    serve(args.folder, args.host, args.port, args.token_file, args.certfile, args.keyfile)
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """The ``compute`` and ``instance`` command groups."""
    cmds = command_group(groups, "compute", help="attach, list and detach compute targets")
    p = command(cmds, "list", cmd_compute_list, common, help="targets, their addresses and status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = command(
        cmds,
        "attach",
        cmd_compute_attach,
        common,
        help="register a compute instance (an `aml instance serve` agent) or a Ray cluster",
    )
    p.add_argument("name", metavar="NAME", help="the target's name, used as -t NAME")
    p.add_argument(
        "--address",
        required=True,
        metavar="URL",
        help="the agent's http(s)://HOST:PORT, or the Ray job-submission URL (http://HOST:8265)",
    )
    p.add_argument(
        "--type",
        choices=["instance", "cluster"],
        default="instance",
        help="instance: an aml agent (default); cluster: a Ray cluster",
    )
    p.add_argument("--token-file", metavar="FILE", help="the agent's token file")
    p.add_argument("--token", metavar="TOKEN", help="the agent's token (prefer --token-file)")
    p.add_argument("--ca-file", metavar="FILE", help="CA bundle for an https agent")
    p = command(cmds, "detach", cmd_compute_detach, common, help="forget a target")
    p.add_argument("name", metavar="NAME", help="the target's name (aml compute list)")

    cmds = command_group(
        groups, "instance", help="the compute-instance agent: run submitted runs on this machine"
    )
    p = command(
        cmds,
        "serve",
        cmd_instance_serve,
        help="run submitted runs on this machine (HTTP, token auth); Ctrl-C stops",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8790, help="port (default 8790)")
    p.add_argument(
        "--token-file",
        required=True,
        metavar="FILE",
        help="file holding the token clients must send; created (mode 600) if missing",
    )
    p.add_argument(
        "--folder",
        default="~/.aml-agent",
        metavar="PATH",
        help="the agent's own workspace, where runs execute (default ~/.aml-agent)",
    )
    p.add_argument("--certfile", metavar="FILE", help="TLS certificate (serve https)")
    p.add_argument("--keyfile", metavar="FILE", help="TLS private key")

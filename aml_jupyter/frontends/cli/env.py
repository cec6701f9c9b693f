"""``aml env ...``: register an environment (a requirements file, a conda file or a Docker
image), list the workspace's environments, show one's whole spec."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _json, _note, _table, _workspace, command, command_group


def cmd_env_register(args: argparse.Namespace) -> int:
    """``aml env register NAME (-f requirements.txt | --conda environment.yml | --image IMAGE)``:
    a new version of ``NAME`` (the same content keeps its version); prints ``NAME:VERSION``."""
    from ...environments.environment import Environment
    from ...errors import AmlError

    ws = _workspace(args)
    try:
        if args.file is not None:
            env = Environment.from_pip_requirements(args.name, args.file)
            source = args.file
        elif args.conda is not None:
            env = Environment.from_conda_specification(args.name, args.conda)
            source = args.conda
        else:
            if not args.image.strip():
                raise AmlError("--image needs an image name, e.g. --image python:3.11-slim.")
            env = Environment.from_docker_image(args.name, args.image.strip())
            source = f"image {env.docker.base_image}"
    except UnicodeDecodeError as exc:  # a binary file given where a text file belongs
        path, kind = (args.file, "requirements.txt") if args.file else (args.conda, "conda .yml")
        raise AmlError(f"{path!r} is not a text file ({exc.reason}): give a {kind}.") from None
    registered = env.register(ws)
    print(f"{registered.name}:{registered.version}")
    _note(
        f"registered environment {registered.name}:{registered.version} from {source}; it is "
        f"built at its first run (aml run submit-script SCRIPT --env {registered.name})"
    )
    return 0


def cmd_env_list(args: argparse.Namespace) -> int:
    """``aml env list``: registered environments, whether each is built."""
    from ...environments.environment import environment_rows

    rows = environment_rows(_workspace(args))
    if args.json:
        _json(rows)
    elif not rows:
        _note("no environments yet; `aml env register NAME -f requirements.txt` makes one")
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
    env_cmds = command_group(groups, "env", help="register, list and show environments")
    p = command(
        env_cmds,
        "register",
        cmd_env_register,
        common,
        help="register an environment from a requirements file, a conda file or a Docker "
        "image; prints NAME:VERSION",
        description="Register environment NAME from exactly one of: a pip requirements file "
        "(-f), a conda environment.yml (--conda) or a Docker image (--image). The same content "
        "keeps its version; a change makes a new one. It is built (with uv) at its first run: "
        "aml run submit-script SCRIPT --env NAME[:VERSION].",
    )
    p.add_argument("name", metavar="NAME", help="the environment's name, used as --env NAME")
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "-f",
        "--file",
        metavar="REQUIREMENTS",
        help="a pip requirements.txt (its -r/-c includes are kept with it)",
    )
    source.add_argument(
        "--conda",
        metavar="YML",
        help="a conda environment.yml: its python= version and pip: packages",
    )
    source.add_argument(
        "--image", metavar="IMAGE", help="a Docker image the run executes in, e.g. python:3.11"
    )
    p = command(env_cmds, "list", cmd_env_list, common, help="latest version of each environment")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = command(env_cmds, "show", cmd_env_show, common, help="one environment's spec (JSON)")
    p.add_argument("name", metavar="NAME[:VERSION]", help="an environment (default: its latest)")

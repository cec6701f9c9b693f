"""``aml kernel install``: the 'Python 3 (aml)' Jupyter kernel, with the magics loaded at start."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _note, command, command_group


def cmd_kernel_install(args: argparse.Namespace) -> int:
    """``aml kernel install``: a Jupyter kernel with the magics loaded at start."""
    from ..kernelspec import install

    path = install(user=args.user, prefix=args.prefix)
    print(path)
    _note("installed kernel 'Python 3 (aml)'; pick it in JupyterLab's launcher")
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml kernel`` group (its commands take no workspace, so ``common`` is unused)."""
    kernel_cmds = command_group(
        groups, "kernel", help="install the 'Python 3 (aml)' Jupyter kernel (magics preloaded)"
    )
    p = command(
        kernel_cmds,
        "install",
        cmd_kernel_install,
        help="install the kernelspec that preloads the %%aml_* magics",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="into this Python's prefix (default)"
    )
    where.add_argument("--prefix", metavar="PATH", help="under this prefix")

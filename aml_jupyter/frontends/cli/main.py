"""The ``aml`` command line: workspaces, experiments and runs from a shell or CI.

A thin front end over the Python API; every command calls the same functions a notebook
does. Output meant for scripts (run ids, tables, JSON, logs) goes to stdout, everything
else to stderr, so ``RID=$(aml run submit-script train.py)`` works::

    aml workspace create
    aml run submit-script src/train.py -e train-mnist --wait -- --lr 0.1
    aml run list
    aml run logs RUN_ID --follow
    aml run download RUN_ID --prefix outputs -o results/

Exit codes: 0 success; 1 a waited-for run ended Failed or Canceled; 2 bad input, a mistyped
command or no workspace (an ``aml:`` line on stderr says what to fix); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from .common import _note

#: What `aml --help` ends with: where to start, and what the exit codes mean.
EPILOG = """\
Start with `aml workspace create` in the project folder, then
`aml run submit-script train.py -- --lr 0.1` (script arguments go after '--').
Only `aml workspace create` and `aml run submit-script` make a workspace; every
other command needs one (-w PATH, $AML_WORKSPACE, or a .aml here or above).

exit codes: 0 success; 1 a waited-for run ended Failed or Canceled; 2 bad input,
a mistyped command or no workspace (a line on stderr says what to fix);
130 interrupted."""


class _UnknownCommand(Exception):
    """A word where a command belongs that is none of them; the message suggests the nearest."""

    def __init__(self, prog: str, word: str, commands: list[str]) -> None:
        import difflib  # only a mistyped command pays for it

        starting = [c for c in commands if c.startswith(word)] if word else []
        nearest = (
            starting[:1] if len(starting) == 1 else difflib.get_close_matches(word, commands, 1)
        )
        if nearest:
            hint = f"Did you mean {nearest[0]!r}?"
        else:
            hint = f"The commands are: {', '.join(commands)} (`{prog} --help` says more)."
        super().__init__(f"{prog}: {word!r} is not a command. {hint}")


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a mistyped command is answered with the nearest one."""

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if isinstance(action, argparse._SubParsersAction) and value not in action.choices:
            raise _UnknownCommand(self.prog, str(value), list(action.choices))
        super()._check_value(action, value)


def _describe(parser: argparse.ArgumentParser) -> None:
    """Give every command without a description its one-line help as one, so that
    `aml GROUP COMMAND --help` says what the command does, not only its usage."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for listed in action._choices_actions:
            sub = action.choices[listed.dest]
            if sub.description is None and listed.help:
                text = str(listed.help)
                sub.description = text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")
            _describe(sub)


# the parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``aml`` argument parser (each command's function is its ``func`` default)."""
    from ...version import __version__

    common = _Parser(add_help=False)
    common.add_argument(
        "-w",
        "--workspace",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the workspace folder (or a folder inside the project holding .aml); default: "
        "$AML_WORKSPACE, else the nearest .aml from the current folder up",
    )

    parser = _Parser(
        prog="aml",
        description="Azure ML v1 workspaces, experiments and runs, local-first.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"aml {__version__}", help="print the version"
    )
    parser.add_argument(
        "-w",
        "--workspace",
        metavar="PATH",
        default=None,
        help="the workspace folder (or a folder inside the project holding .aml); default: "
        "$AML_WORKSPACE, else the nearest .aml from the current folder up",
    )
    parser.set_defaults(func=None, parser=parser)
    groups = parser.add_subparsers(title="commands", metavar="COMMAND")

    # each group's module adds its commands, in the order `aml --help` lists them
    from . import compute as cli_compute
    from . import dataset as cli_dataset
    from . import datastore as cli_datastore
    from . import env as cli_env
    from . import kernel as cli_kernel
    from . import model as cli_model
    from . import run as cli_run
    from . import workspace as cli_workspace

    cli_workspace.add_commands(groups, common)  # aml workspace ..., aml experiment ...
    cli_run.add_commands(groups, common)
    cli_env.add_commands(groups, common)
    cli_compute.add_commands(groups, common)  # aml compute ..., aml instance serve
    cli_model.add_commands(groups, common)
    cli_datastore.add_commands(groups, common)
    cli_dataset.add_commands(groups, common)
    cli_kernel.add_commands(groups, common)
    _describe(parser)
    return parser


def _split_script_args(argv: list[str]) -> tuple[list[str], list[str] | None]:
    """``aml ... -- a b`` → (``aml ...``, ``[a, b]``); None when there is no ``--``."""
    if "--" not in argv:
        return argv, None
    i = argv.index("--")
    return argv[:i], argv[i + 1 :]


def main(argv: list[str] | None = None) -> int:
    """Run the ``aml`` command line with ``argv`` (default ``sys.argv[1:]``); returns the exit code."""
    args_list, script_args = _split_script_args(list(sys.argv[1:] if argv is None else argv))
    parser = build_parser()
    from .run import cmd_run_submit_script  # build_parser has loaded it: no cost

    try:
        args, extra = parser.parse_known_args(args_list)
        sub: argparse.ArgumentParser = args.parser
        if extra:
            hint = ""
            if args.func is cmd_run_submit_script:
                hint = " (arguments for the script go after '--')"
            sub.error(f"unrecognized arguments: {' '.join(extra)}{hint}")
        if script_args is not None:
            if args.func is not cmd_run_submit_script:
                sub.error("only `aml run submit-script` takes arguments after '--'")
            args.script_args = script_args
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
    except _UnknownCommand as exc:
        print(exc, file=sys.stderr)
        return 2  # what argparse answers any other usage error with
    if args.func is None:
        sub.print_help(sys.stderr)
        return 2

    from ...errors import AmlError

    try:
        return int(args.func(args))
    except AmlError as exc:
        print(f"aml: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _note("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (`aml run logs X | head`): quiet exit, no flush error at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except OSError as exc:  # a folder that cannot be written, a missing path
        print(f"aml: error: {exc}", file=sys.stderr)
        return 2

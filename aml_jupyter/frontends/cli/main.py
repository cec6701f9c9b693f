"""The ``aml`` command line: workspaces, experiments and runs from a shell or CI.

A thin front end over the Python API; every command calls the same functions a notebook
does. Output meant for scripts (run ids, tables, JSON, logs) goes to stdout, everything
else to stderr, so ``RID=$(aml run submit-script train.py)`` works::

    aml workspace create
    aml run submit-script src/train.py -e train-mnist --wait -- --lr 0.1
    aml run list
    aml run logs RUN_ID --follow
    aml run download RUN_ID --prefix outputs -o results/

Exit codes: 0 success; 1 a waited-for run ended Failed or Canceled; 2 bad input (an
``aml: error:`` line says what to fix); 130 interrupted.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ...tracking.run import Run

from .common import (
    _count,
    _duration,
    _json,
    _note,
    _seconds,
    _status,
    _table,
    _tag,
    _value,
    _when,
    _workspace,
)


def _run(args: argparse.Namespace) -> Run:
    """The run named by ``args.run`` (an id or a unique prefix of one)."""
    from ...tracking.run import Run

    return Run.get(_workspace(args), args.run)


def _stopped(run: Run) -> int:
    _note(f"stopped waiting; the run goes on (aml run logs {run.id} --follow)")
    return 130


# commands -------------------------------------------------------------------------------------
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


def cmd_run_submit_script(args: argparse.Namespace) -> int:
    """``aml run submit-script SCRIPT [-- ARGS]``: start a run; prints its id.

    With ``--wait`` the driver log streams to stdout until the run ends; the exit code is 0
    for Completed and 1 for Failed or Canceled.
    """
    from ..submit import distributed_config, submit_path

    ws = _workspace(args)
    run = submit_path(
        ws,
        args.script,
        arguments=args.script_args,
        experiment=args.experiment,
        source_directory=args.source_directory,
        target=args.target,
        tags=dict(args.tag) or None,
        display_name=args.name,
        distributed=distributed_config(args.nodes, args.procs, args.backend),
        environment=args.env,
    )
    print(run.id, flush=True)
    if not args.wait:
        _note(
            f"submitted run {run.id} to experiment {run.experiment.name}; "
            f"follow it with `aml run logs {run.id} --follow`"
        )
        return 0
    from ...status import RunStatus

    try:
        details = run.wait_for_completion(show_output=True, raise_on_error=False)
    except KeyboardInterrupt:
        return _stopped(run)
    return 0 if details["status"] == RunStatus.COMPLETED else 1


def cmd_run_list(args: argparse.Namespace) -> int:
    """``aml run list``: newest runs first, a table with metrics as columns (or JSON)."""
    from ...tracking.query import list_runs

    rows = list_runs(
        _workspace(args),
        args.experiment,
        status=args.status or None,
        tags=dict(args.tag) or None,
        top=args.top or None,
    )
    if args.json:
        _json(rows)
        return 0
    if not rows:
        _note("no runs match")
        return 0
    metrics: list[str] = []
    for row in rows:
        metrics += [k for k in row if k.startswith("metric.") and k not in metrics]
    named = any(r["display_name"] != r["run_id"] for r in rows)
    headers = ["RUN ID", *(["NAME"] if named else []), "EXPERIMENT", "#", "STATUS"]
    headers += ["DURATION", "CREATED", *(m.removeprefix("metric.") for m in metrics)]
    values, texts = [], []
    for r in rows:
        name = [r["display_name"] if r["display_name"] != r["run_id"] else ""] if named else []
        fixed = [r["run_id"], *name, r["experiment"], r["number"], r["status"]]
        metric_values = [r.get(m) for m in metrics]
        values.append([*fixed, r["duration_s"], r["created"], *metric_values])
        texts.append(
            [str(v) for v in fixed]
            + [_duration(r["duration_s"]), r["created"]]
            + [_value(v) for v in metric_values]
        )
    print(_table(headers, values, texts))
    return 0


def cmd_run_show(args: argparse.Namespace) -> int:
    """``aml run show RUN``: the run's details, metrics and file names."""
    run = _run(args)
    details = run.get_details()
    details["metrics"] = run.get_metrics()
    details["files"] = run.get_file_names()
    if args.json:
        _json(details)
        return 0
    definition = details.get("runDefinition") or {}
    what = definition.get("script") or definition.get("command") or "-"
    if isinstance(what, list):
        what = " ".join(what)
    fields = [
        ("Run", details["runId"]),
        ("Name", details["displayName"] if details["displayName"] != details["runId"] else None),
        ("Experiment", details["experiment"]),
        ("Status", details["status"]),
        ("Target", details["target"]),
        ("Script", " ".join([str(what), *definition.get("arguments", [])])),
        ("Created", details["createdTimeUtc"]),
        ("Started", details["startTimeUtc"]),
        ("Ended", details["endTimeUtc"]),
        ("Exit code", details.get("exitCode")),
        ("Error", details.get("error", {}).get("error", {}).get("message")),
    ]
    for label, value in fields:
        if value is not None:
            print(f"{label + ':':<12}{value}")
    for title, items in (
        ("Tags", details["tags"]),
        ("Properties", details["properties"]),
        ("Metrics", details["metrics"]),
    ):
        if items:
            print(f"{title}:")
            for key, value in items.items():
                print(f"  {key}: {_value(value)}")
    if details["files"]:
        print("Files:")
        for name in details["files"]:
            print(f"  {name}")
    return 0


def _follow(run: Run) -> int:
    """Print the driver log as it grows until the run ends (like ``tail -f``)."""
    try:
        status = run.stream_log(sys.stdout)
    except KeyboardInterrupt:
        return _stopped(run)
    _note(f"run {run.id} ended {status}")
    return 0


def cmd_run_logs(args: argparse.Namespace) -> int:
    """``aml run logs RUN [--follow]``: print the driver log (the script's stdout and stderr)."""
    run = _run(args)
    if args.follow:
        return _follow(run)
    sys.stdout.write(run.read_log())
    sys.stdout.flush()
    return 0


def cmd_run_cancel(args: argparse.Namespace) -> int:
    """``aml run cancel RUN``: stop the run's process tree; prints the status it ends in."""
    from ...errors import AmlError
    from ...status import RunStatus

    run = _run(args)
    before = run.get_status()
    if before in RunStatus.TERMINAL:
        _note(f"run {run.id} had already ended {before}; nothing to cancel")
        print(before)
        return 0
    run.cancel()
    if args.timeout > 0:
        try:
            run.wait_for_completion(raise_on_error=False, timeout_seconds=args.timeout)
        except KeyboardInterrupt:
            return _stopped(run)
        except AmlError:
            _note(f"run {run.id} has not ended after {args.timeout:g} s; it ends on its own")
    print(run.get_status())
    return 0


def cmd_run_download(args: argparse.Namespace) -> int:
    """``aml run download RUN``: copy the run's files (under ``--prefix``); prints their paths."""
    run = _run(args)
    written = run.download_files(prefix=args.prefix, output_directory=args.output)
    for path in written:
        print(path)
    if not written:
        where = f" under {args.prefix!r}" if args.prefix else ""
        _note(f"run {run.id} has no files{where}; `aml run show {run.id}` lists them")
    return 0


# the parser -----------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    """The ``aml`` argument parser (each command's function is its ``func`` default)."""
    from ...version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "-w",
        "--workspace",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="the workspace folder (or a folder inside the project holding .aml); default: "
        "$AML_WORKSPACE, else the nearest .aml from the current folder up",
    )

    parser = argparse.ArgumentParser(
        prog="aml",
        description="Azure ML v1 workspaces, experiments and runs, local-first.",
        epilog="Script arguments go after '--': aml run submit-script train.py -- --lr 0.1",
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

    # aml workspace ...
    ws_parser = groups.add_parser("workspace", help="create or describe a workspace")
    ws_parser.set_defaults(parser=ws_parser)
    ws_cmds = ws_parser.add_subparsers(title="workspace commands", metavar="COMMAND")
    p = ws_cmds.add_parser(
        "create", parents=[common], help="create a workspace (PATH/.aml); prints its folder"
    )
    p.add_argument(
        "path", nargs="?", metavar="PATH", help="project folder to hold .aml (default: here)"
    )
    p.set_defaults(func=cmd_workspace_create, parser=p)
    p = ws_cmds.add_parser("show", parents=[common], help="name, folder, experiment and run counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_workspace_show, parser=p)

    # aml experiment ...
    exp_parser = groups.add_parser("experiment", help="list experiments")
    exp_parser.set_defaults(parser=exp_parser)
    exp_cmds = exp_parser.add_subparsers(title="experiment commands", metavar="COMMAND")
    p = exp_cmds.add_parser("list", parents=[common], help="experiments with run counts")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_experiment_list, parser=p)

    # aml run ...
    run_parser = groups.add_parser("run", help="submit, list, inspect and cancel runs")
    run_parser.set_defaults(parser=run_parser)
    run_cmds = run_parser.add_subparsers(title="run commands", metavar="COMMAND")

    p = run_cmds.add_parser(
        "submit-script",
        parents=[common],
        help="run a script as a new run; prints the run id",
        description="Submit SCRIPT (a .py file, or a folder with train.py/main.py) as a new "
        "run. Arguments for the script go after '--'.",
    )
    p.add_argument("script", metavar="SCRIPT", help="the script file (or a folder) to run")
    p.add_argument(
        "-d",
        "--source-directory",
        metavar="DIR",
        help="the folder snapshotted and run in (default: the script's folder)",
    )
    p.add_argument(
        "-e",
        "--experiment",
        metavar="EXP",
        help="experiment name (default: made from the source folder's name)",
    )
    p.add_argument(
        "-t", "--target", metavar="TARGET", default="local", help="compute target (default: local)"
    )
    p.add_argument("--name", metavar="NAME", help="a display name for the run")
    p.add_argument(
        "--tag",
        metavar="KEY=VALUE",
        type=_tag,
        action="append",
        default=[],
        help="tag the run (repeatable; a bare KEY is a tag without a value)",
    )
    p.add_argument(
        "--wait",
        action="store_true",
        help="stream the driver log until the run ends; exit 1 if it Failed or was Canceled",
    )
    p.add_argument(
        "--env",
        metavar="NAME[:VERSION]",
        help="a registered environment (built once with uv, then cached); default: this Python",
    )
    p.add_argument("--nodes", type=int, metavar="N", help="distributed job: number of nodes")
    p.add_argument(
        "--procs",
        type=int,
        metavar="P",
        help="distributed job: processes per node (each gets RANK, WORLD_SIZE, LOCAL_RANK, ...)",
    )
    p.add_argument(
        "--backend", metavar="B", help="distributed job: nccl or gloo (default gloo), or mpi"
    )
    p.set_defaults(func=cmd_run_submit_script, parser=p, script_args=[])

    p = run_cmds.add_parser("list", parents=[common], help="runs, newest first, with metrics")
    p.add_argument("-e", "--experiment", metavar="EXP", help="only runs of this experiment")
    p.add_argument(
        "--status",
        metavar="S",
        type=_status,
        action="append",
        default=[],
        help="only runs in this status (repeatable), e.g. Completed, Failed, Running",
    )
    p.add_argument(
        "--tag",
        metavar="KEY=VALUE",
        type=_tag,
        action="append",
        default=[],
        help="only runs with this tag (repeatable; a bare KEY matches any value)",
    )
    p.add_argument(
        "--top", metavar="N", type=_count, default=50, help="at most N runs (default 50; 0: all)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_run_list, parser=p)

    run_arg = "run id (a unique prefix is enough)"
    p = run_cmds.add_parser("show", parents=[common], help="a run's details, metrics and files")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=cmd_run_show, parser=p)

    p = run_cmds.add_parser("logs", parents=[common], help="print a run's driver log")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new output until the run ends (like tail -f)",
    )
    p.set_defaults(func=cmd_run_logs, parser=p)

    p = run_cmds.add_parser("cancel", parents=[common], help="cancel a run; prints its status")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=30.0,
        help="wait this long for the run to end before printing its status (default 30; 0: "
        "do not wait)",
    )
    p.set_defaults(func=cmd_run_cancel, parser=p)

    p = run_cmds.add_parser("download", parents=[common], help="copy a run's files here")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument("--prefix", metavar="P", help="only files under this path, e.g. outputs")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".",
        help="folder to write into (default: here)",
    )
    p.set_defaults(func=cmd_run_download, parser=p)

    # aml env ...
    env_parser = groups.add_parser("env", help="registered environments")
    env_parser.set_defaults(parser=env_parser)
    env_cmds = env_parser.add_subparsers(title="env commands", metavar="COMMAND")
    p = env_cmds.add_parser("list", parents=[common], help="latest version of each environment")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_env_list, parser=p)
    p = env_cmds.add_parser("show", parents=[common], help="one environment's spec (JSON)")
    p.add_argument("name", metavar="NAME[:VERSION]")
    p.set_defaults(func=cmd_env_show, parser=p)

    # aml compute ... / aml instance serve
    from . import compute as cli_compute
    from . import model as cli_model

    cli_compute.add_commands(groups, common)
    cli_model.add_commands(groups, common)

    # aml kernel ...
    kernel_parser = groups.add_parser("kernel", help="the 'Python 3 (aml)' Jupyter kernel")
    kernel_parser.set_defaults(parser=kernel_parser)
    kernel_cmds = kernel_parser.add_subparsers(title="kernel commands", metavar="COMMAND")
    p = kernel_cmds.add_parser(
        "install", help="install the kernelspec that preloads the %%aml_* magics"
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="for the current user")
    where.add_argument(
        "--sys-prefix", action="store_true", help="into this Python's prefix (default)"
    )
    where.add_argument("--prefix", metavar="PATH", help="under this prefix")
    p.set_defaults(func=cmd_kernel_install, parser=p)
    return parser


def cmd_kernel_install(args: argparse.Namespace) -> int:
    """``aml kernel install``: a Jupyter kernel with the magics loaded at start."""
    from ..kernelspec import install

    path = install(user=args.user, prefix=args.prefix)
    print(path)
    _note("installed kernel 'Python 3 (aml)'; pick it in JupyterLab's launcher")
    return 0


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

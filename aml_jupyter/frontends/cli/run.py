"""``aml run ...``: submit a script as a run, list runs, show one, print or follow its log,
cancel it, download its files."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

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
    _workspace,
    _workspace_or_create,
    command,
    command_group,
)

if TYPE_CHECKING:
    from ...tracking.run import Run


def _run(args: argparse.Namespace) -> Run:
    """The run named by ``args.run`` (an id or a unique prefix of one)."""
    from ...tracking.run import Run

    return Run.get(_workspace(args), args.run)


def _stopped(run: Run) -> int:
    _note(f"stopped waiting; the run goes on (aml run logs {run.id} --follow)")
    return 130


def cmd_run_submit_script(args: argparse.Namespace) -> int:
    """``aml run submit-script SCRIPT [-- ARGS]``: start a run; prints its id.

    With ``--wait`` the driver log streams to stdout until the run ends; the exit code is 0
    for Completed and 1 for Failed or Canceled.
    """
    from ..submit import distributed_config, script_run_config, submit_config

    config = script_run_config(  # first: a missing script or bad option makes no workspace
        args.script,
        arguments=args.script_args,
        source_directory=args.source_directory,
        target=args.target,
        distributed=distributed_config(args.nodes, args.procs, args.backend),
        environment=args.env,
    )
    run = submit_config(
        _workspace_or_create(args),
        config,
        experiment=args.experiment,
        tags=dict(args.tag) or None,
        display_name=args.name,
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


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml run`` group to the ``aml`` parser's ``groups``; ``common`` holds ``-w``."""
    run_cmds = command_group(groups, "run", help="submit, list, inspect and cancel runs")

    p = command(
        run_cmds,
        "submit-script",
        cmd_run_submit_script,
        common,
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
    p.set_defaults(script_args=[])

    p = command(run_cmds, "list", cmd_run_list, common, help="runs, newest first, with metrics")
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

    run_arg = "run id (a unique prefix is enough)"
    p = command(run_cmds, "show", cmd_run_show, common, help="a run's details, metrics and files")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument("--json", action="store_true", help="print JSON instead of text")

    p = command(run_cmds, "logs", cmd_run_logs, common, help="print a run's driver log")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="keep printing new output until the run ends (like tail -f)",
    )

    p = command(run_cmds, "cancel", cmd_run_cancel, common, help="cancel a run; prints its status")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument(
        "--timeout",
        metavar="SECONDS",
        type=_seconds,
        default=30.0,
        help="wait this long for the run to end before printing its status (default 30; 0: "
        "do not wait)",
    )

    p = command(run_cmds, "download", cmd_run_download, common, help="copy a run's files here")
    p.add_argument("run", metavar="RUN", help=run_arg)
    p.add_argument("--prefix", metavar="P", help="only files under this path, e.g. outputs")
    p.add_argument(
        "-o",
        "--output",
        metavar="DIR",
        default=".",
        help="folder to write into (default: here)",
    )

"""``aml model register|list|show|download|delete`` and ``aml service deploy|list|show|logs|
delete``: the model registry and local scoring services from a shell or CI.

Thin, like the rest of the CLI: each command calls :class:`aml_jupyter.Model` or
:class:`aml_jupyter.LocalWebservice`."""

from __future__ import annotations

import argparse
from typing import Any

from .common import _json, _note, _table, _tag, _when, _workspace, command, command_group


def _model(args: argparse.Namespace, need_version: bool = False) -> Any:
    from ...errors import AmlError
    from ...registry.model import Model

    if need_version and ":" not in args.model:
        raise AmlError(f"Name the version to delete: {args.model}:VERSION (aml model list).")
    return Model(_workspace(args), args.model)


def cmd_model_register(args: argparse.Namespace) -> int:
    """``aml model register NAME PATH [--run RUN]``: a local path, or a run's file or folder."""
    from ..model_commands import register

    model = register(_workspace(args), args, dict(args.tag) if args.tag else None)
    print(model.id)
    source = f"run {model.run_id}" if model.run_id else args.path
    _note(f"registered {model.id} from {source}")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    """``aml model list``: versions, newest first (filters as Model.list)."""
    from ...registry.model import Model

    models = Model.list(
        _workspace(args),
        name=args.name,
        tags=[[k, v] if v is not None else k for k, v in args.tag or []],
        latest=args.latest,
    )
    if args.json:
        _json([m.serialize() for m in models])
        return 0
    if not models:
        _note("no models yet; aml model register NAME PATH (or run.register_model)")
        return 0
    columns = ["ID", "FRAMEWORK", "RUN", "FILE", "SIZE", "CREATED", "TAGS"]
    values = []
    for m in models:
        tags = ",".join(k if v is None else f"{k}={v}" for k, v in m.tags.items())
        values.append(
            [
                m.id,
                m.model_framework,
                m.run_id,
                m.serialize()["path"],
                m.size,
                _when(m.created_time.timestamp()),
                tags,
            ]
        )
    texts = [["-" if v in (None, "") else str(v) for v in row] for row in values]
    print(_table(columns, values, texts))
    return 0


def cmd_model_show(args: argparse.Namespace) -> int:
    """``aml model show NAME[:VERSION]``: one version as JSON (latest when no version)."""
    model = _model(args)
    _json({**model.serialize(), "files": model.get_file_names()})
    return 0


def cmd_model_download(args: argparse.Namespace) -> int:
    """``aml model download NAME[:VERSION] -o DIR``: prints the downloaded path."""
    print(_model(args).download(args.output, exist_ok=args.exist_ok))
    return 0


def cmd_model_delete(args: argparse.Namespace) -> int:
    """``aml model delete NAME:VERSION``."""
    model = _model(args, need_version=True)
    model.delete()
    _note(f"deleted {model.id}")
    return 0


def cmd_service_deploy(args: argparse.Namespace) -> int:
    """``aml service deploy NAME MODEL[:V]... [--entry-script F --source-directory D]``."""
    from ..model_commands import deploy

    service = deploy(_workspace(args), args)
    print(service.scoring_uri)
    _note(f"service {service.name!r} is Healthy ({', '.join(service.models)})")
    return 0


def cmd_service_list(args: argparse.Namespace) -> int:
    """``aml service list``: services, their state and request figures."""
    from ...registry.webservice import Webservice

    services = Webservice.list(_workspace(args))
    rows = [{**s.serialize(), **s.get_stats()} for s in services]
    if args.json:
        _json(rows)
        return 0
    if not rows:
        _note("no services; aml service deploy NAME MODEL (or Model.deploy)")
        return 0
    columns = ["name", "state", "models", "scoring_uri", "requests", "errors", "p50_ms", "p95_ms"]
    values = [[r[c] for c in columns] for r in rows]
    texts = [
        [
            ",".join(v)
            if isinstance(v, list)
            else ("-" if v is None else f"{v:.1f}" if isinstance(v, float) else str(v))
            for v in row
        ]
        for row in values
    ]
    print(_table([c.upper() for c in columns], values, texts))
    return 0


def cmd_service_show(args: argparse.Namespace) -> int:
    """``aml service show NAME``: state, models, URIs and request statistics as JSON."""
    from ...registry.webservice import Webservice

    service = Webservice(_workspace(args), args.name)
    _json({**service.serialize(), "swagger_uri": service.swagger_uri, "stats": service.get_stats()})
    return 0


def cmd_service_logs(args: argparse.Namespace) -> int:
    """``aml service logs NAME``: the service's log (init(), run() output and errors)."""
    from ...registry.webservice import Webservice

    print(Webservice(_workspace(args), args.name).get_logs(args.lines))
    return 0


def cmd_service_delete(args: argparse.Namespace) -> int:
    """``aml service delete NAME``: stop the service and forget it."""
    from ...registry.webservice import Webservice

    Webservice(_workspace(args), args.name).delete()
    _note(f"deleted service {args.name!r}")
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """The ``model`` command group."""
    cmds = command_group(groups, "model", help="register, list, show, download and delete models")
    p = command(
        cmds,
        "register",
        cmd_model_register,
        common,
        help="register a file or folder; prints NAME:VERSION",
    )
    p.add_argument("name", metavar="NAME", help="the model's name (a new name starts at version 1)")
    p.add_argument("path", metavar="PATH", help="a local path, or with --run a run's file/folder")
    p.add_argument("--run", metavar="RUN", help="take PATH from this run's files (lineage kept)")
    p.add_argument(
        "--tag", action="append", type=_tag, metavar="KEY=VALUE", help="tag it (repeatable)"
    )
    p.add_argument("--framework", metavar="F", help="e.g. ScikitLearn, PyTorch, Onnx")
    p.add_argument("--framework-version", metavar="V", help="the framework's version, e.g. 1.4")
    p.add_argument("--description", metavar="TEXT", help="a line saying what the model is")
    p = command(cmds, "list", cmd_model_list, common, help="versions, newest first")
    p.add_argument("--name", metavar="NAME", help="only this model")
    p.add_argument(
        "--tag",
        action="append",
        type=_tag,
        metavar="KEY[=VALUE]",
        help="only versions with this tag (repeatable; a bare KEY matches any value)",
    )
    p.add_argument("--latest", action="store_true", help="only the latest version of each")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    model_arg = "a model, NAME:VERSION or NAME (its latest version)"
    p = command(cmds, "show", cmd_model_show, common, help="one version as JSON")
    p.add_argument("model", metavar="NAME[:VERSION]", help=model_arg)
    p = command(
        cmds, "download", cmd_model_download, common, help="copy a version's file or folder"
    )
    p.add_argument("model", metavar="NAME[:VERSION]", help=model_arg)
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder (default: .)")
    p.add_argument("--exist-ok", action="store_true", help="overwrite what is there")
    p = command(cmds, "delete", cmd_model_delete, common, help="remove one version")
    p.add_argument("model", metavar="NAME:VERSION", help="the version to remove")

    cmds = command_group(groups, "service", help="deploy models as local scoring services")
    p = command(
        cmds,
        "deploy",
        cmd_service_deploy,
        common,
        help="start a scoring service; prints its scoring URI",
    )
    p.add_argument("name", metavar="NAME", help="the service's name")
    p.add_argument(
        "models", nargs="+", metavar="MODEL[:VERSION]", help="the models it serves (latest: no :V)"
    )
    p.add_argument("--entry-script", metavar="FILE", help="score.py with init() and run()")
    p.add_argument(
        "--source-directory",
        default=".",
        metavar="DIR",
        help="the folder holding the entry script (default: here)",
    )
    p.add_argument("--port", type=int, metavar="N", help="default: a free port")
    p.add_argument("--workers", type=int, default=1, metavar="N", help="processes (default 1)")
    p.add_argument("--overwrite", action="store_true", help="replace a service of that name")
    p = command(cmds, "list", cmd_service_list, common, help="services with state and latency")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    service_arg = "the service's name (aml service list)"
    p = command(cmds, "show", cmd_service_show, common, help="one service as JSON, with statistics")
    p.add_argument("name", metavar="NAME", help=service_arg)
    p = command(cmds, "logs", cmd_service_logs, common, help="a service's log")
    p.add_argument("name", metavar="NAME", help=service_arg)
    p.add_argument(
        "--lines", type=int, default=5000, metavar="N", help="the last N lines (default 5000)"
    )
    p = command(cmds, "delete", cmd_service_delete, common, help="stop a service and forget it")
    p.add_argument("name", metavar="NAME", help=service_arg)

"""``aml model register|list|show|download|delete``: the model registry from a shell or CI.

Thin, like the rest of the CLI: each command calls :class:`aml_jupyter.Model`."""

from __future__ import annotations

import argparse
from typing import Any

from .cli import _json, _note, _table, _tag, _when, _workspace


def _model(args: argparse.Namespace, need_version: bool = False) -> Any:
    from .errors import AmlError
    from .model import Model

    if need_version and ":" not in args.model:
        raise AmlError(f"Name the version to delete: {args.model}:VERSION (aml model list).")
    return Model(_workspace(args), args.model)


def cmd_model_register(args: argparse.Namespace) -> int:
    """``aml model register NAME PATH [--run RUN]``: a local path, or a run's file or folder."""
    from .model import Model

    ws = _workspace(args)
    options = {
        "tags": dict(args.tag) if args.tag else None,
        "model_framework": args.framework,
        "model_framework_version": args.framework_version,
        "description": args.description,
    }
    if args.run:
        model = ws.get_run(args.run).register_model(args.name, args.path, **options)
    else:
        model = Model.register(ws, args.path, args.name, **options)
    print(model.id)
    source = f"run {model.run_id}" if model.run_id else args.path
    _note(f"registered {model.id} from {source}")
    return 0


def cmd_model_list(args: argparse.Namespace) -> int:
    """``aml model list``: versions, newest first (filters as Model.list)."""
    from .model import Model

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


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """The ``model`` command group."""
    parser = groups.add_parser("model", help="register, list, show, download and delete models")
    parser.set_defaults(parser=parser)
    cmds = parser.add_subparsers(title="model commands", metavar="COMMAND")
    p = cmds.add_parser(
        "register", parents=[common], help="register a file or folder; prints NAME:VERSION"
    )
    p.add_argument("name", metavar="NAME")
    p.add_argument("path", metavar="PATH", help="a local path, or with --run a run's file/folder")
    p.add_argument("--run", metavar="RUN", help="take PATH from this run's files (lineage kept)")
    p.add_argument("--tag", action="append", type=_tag, metavar="KEY=VALUE", help="repeatable")
    p.add_argument("--framework", metavar="F", help="e.g. ScikitLearn, PyTorch, Onnx")
    p.add_argument("--framework-version", metavar="V")
    p.add_argument("--description", metavar="TEXT")
    p.set_defaults(func=cmd_model_register, parser=p)
    p = cmds.add_parser("list", parents=[common], help="versions, newest first")
    p.add_argument("--name", metavar="NAME", help="only this model")
    p.add_argument("--tag", action="append", type=_tag, metavar="KEY[=VALUE]", help="repeatable")
    p.add_argument("--latest", action="store_true", help="only the latest version of each")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=cmd_model_list, parser=p)
    p = cmds.add_parser("show", parents=[common], help="one version as JSON")
    p.add_argument("model", metavar="NAME[:VERSION]")
    p.set_defaults(func=cmd_model_show, parser=p)
    p = cmds.add_parser("download", parents=[common], help="copy a version's file or folder")
    p.add_argument("model", metavar="NAME[:VERSION]")
    p.add_argument("-o", "--output", default=".", metavar="DIR", help="folder (default: .)")
    p.add_argument("--exist-ok", action="store_true", help="overwrite what is there")
    p.set_defaults(func=cmd_model_download, parser=p)
    p = cmds.add_parser("delete", parents=[common], help="remove one version")
    p.add_argument("model", metavar="NAME:VERSION")
    p.set_defaults(func=cmd_model_delete, parser=p)

"""``aml datastore ...``: list the workspace's datastores, show one (never its credentials),
attach one (a local folder, an Azure Blob container, an S3 bucket).

Credentials never go on the command line (shell history, ``ps``): ``attach`` reads them from
the environment variables the Azure and AWS command lines use (``AZURE_STORAGE_KEY``,
``AZURE_STORAGE_SAS_TOKEN``, ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
``AWS_SESSION_TOKEN``) and keeps them encrypted in the workspace, as the Python API does.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..dataset_views import datastore_where as _where
from ..dataset_views import no_secrets
from .common import _json, _note, _table, _workspace, command, command_group


def _row(ds: Any, default: str) -> dict[str, Any]:
    return {
        "name": ds.name,
        "kind": ds.datastore_type,
        "where": _where(ds),
        "default": ds.name == default,
    }


def cmd_datastore_list(args: argparse.Namespace) -> int:
    """``aml datastore list``: every datastore, its kind, where it is, which is the default."""
    ws = _workspace(args)
    default = ws.get_default_datastore().name
    rows = [_row(ds, default) for ds in ws.datastores.values()]
    if args.json:
        _json(rows)
        return 0
    columns = ["name", "kind", "where", "default"]
    values = [[r[c] for c in columns] for r in rows]
    texts = [[r["name"], r["kind"], r["where"], "*" if r["default"] else ""] for r in rows]
    print(_table([c.upper() for c in columns], values, texts))
    return 0


def cmd_datastore_show(args: argparse.Namespace) -> int:
    """``aml datastore show NAME``: its settings as JSON; credentials only as their secret's
    name."""
    from ...data.datastore import get_datastore

    ws = _workspace(args)
    ds = get_datastore(ws, args.name)
    record = ws.store.get_datastore(ds.name)
    shown = _row(ds, ws.get_default_datastore().name)
    shown["settings"] = (
        {k: no_secrets(v) for k, v in record.config.items()} if record else {"folder": _where(ds)}
    )
    secret = record.credentials_secret if record else None
    shown["credentials"] = f"encrypted, secret {secret}" if secret else None
    _json(shown)
    return 0


def cmd_datastore_attach(args: argparse.Namespace) -> int:
    """``aml datastore attach NAME (--local PATH | --blob CONTAINER --account NAME | --s3
    BUCKET)``: register a datastore (checked first unless ``--skip-validation``)."""
    from ...data.datastore import Datastore

    ws = _workspace(args)
    env = os.environ.get
    common = {"overwrite": args.overwrite}
    if args.local is not None:
        ds = Datastore.register_local(ws, args.name, args.local, **common)
    elif args.blob is not None:
        if not args.account:
            args.parser.error("--blob needs --account NAME")
        ds = Datastore.register_azure_blob_container(
            ws,
            args.name,
            args.blob,
            args.account,
            sas_token=env("AZURE_STORAGE_SAS_TOKEN"),
            account_key=env("AZURE_STORAGE_KEY"),
            endpoint=args.endpoint,
            skip_validation=args.skip_validation,
            **common,
        )
    else:
        ds = Datastore.register_s3(
            ws,
            args.name,
            args.s3,
            prefix=args.prefix,
            endpoint_url=args.endpoint_url,
            access_key_id=env("AWS_ACCESS_KEY_ID"),
            secret_access_key=env("AWS_SECRET_ACCESS_KEY"),
            session_token=env("AWS_SESSION_TOKEN"),
            region=args.region,
            skip_validation=args.skip_validation,
            **common,
        )
    if args.default:
        ds.set_as_default()
    print(ds.name)
    _note(f"attached datastore {ds.name} ({ds.datastore_type}): {_where(ds)}")
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml datastore`` group; ``common`` holds ``-w``."""
    cmds = command_group(groups, "datastore", help="list, show and attach datastores")
    p = command(cmds, "list", cmd_datastore_list, common, help="every datastore of the workspace")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p = command(cmds, "show", cmd_datastore_show, common, help="one datastore's settings (JSON)")
    p.add_argument("name", metavar="NAME", help="a datastore (aml datastore list names them)")
    p = command(
        cmds,
        "attach",
        cmd_datastore_attach,
        common,
        help="register a local folder, an Azure Blob container or an S3 bucket",
        description="Register datastore NAME. Credentials come from the environment, never "
        "the command line: AZURE_STORAGE_KEY or AZURE_STORAGE_SAS_TOKEN for --blob; "
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN) for --s3. They are "
        "kept encrypted in the workspace. The store is reached first: a wrong key or a "
        "missing container registers nothing.",
    )
    p.add_argument("name", metavar="NAME", help="letters, digits and underscores")
    kind = p.add_mutually_exclusive_group(required=True)
    kind.add_argument("--local", metavar="PATH", help="a folder of this machine")
    kind.add_argument("--blob", metavar="CONTAINER", help="an Azure Blob container")
    kind.add_argument("--s3", metavar="BUCKET", help="an S3 (or S3-compatible) bucket")
    p.add_argument("--account", metavar="NAME", help="--blob: the storage account")
    p.add_argument(
        "--endpoint",
        metavar="SUFFIX|URL",
        help="--blob: the storage suffix (default core.windows.net) or a whole blob URL "
        "(Azurite: http://127.0.0.1:10000/devstoreaccount1)",
    )
    p.add_argument("--prefix", metavar="PATH", help="--s3: only under this prefix")
    p.add_argument("--endpoint-url", metavar="URL", help="--s3: an S3-compatible store's URL")
    p.add_argument("--region", metavar="REGION", help="--s3: the bucket's region")
    p.add_argument("--skip-validation", action="store_true", help="do not reach the store first")
    p.add_argument("--overwrite", action="store_true", help="replace a datastore of that name")
    p.add_argument("--default", action="store_true", help="make it the default datastore")

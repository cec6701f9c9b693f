"""``aml dataset ...``: list the workspace's datasets, show one version (its definition, files,
tags and the runs that read or wrote it), register files as a new dataset or version,
download a version's files (checked against the bytes it was registered with first), and
unregister a dataset's every version.

Paths for ``register`` are local paths or globs, URLs, or ``DATASTORE:relative/glob`` for
files in a registered datastore (``aml datastore list`` names them).
"""

from __future__ import annotations

import argparse
from typing import Any

from ...errors import AmlError
from ..dataset_views import (
    TABULAR_FORMATS,
    dataset_details,
    dataset_rows,
    download_dataset,
    human_size,
    register_dataset,
)
from .common import _count, _json, _note, _table, _tag, _when, _workspace, command, command_group


def _version(text: str) -> int:
    """A dataset version: a whole number >= 1."""
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a version (a whole number >= 1)")
    return int(text)


def _in_cli_words(exc: AmlError, api: str, flag: str) -> AmlError:
    """The API's error, its fix said as this command's flag (``--new-version``, not
    ``create_new_version=True``)."""
    text = str(exc)
    return AmlError(text.replace(api, flag)) if api in text else exc


def cmd_dataset_list(args: argparse.Namespace) -> int:
    """``aml dataset list``: the latest version of every dataset, its kind, files and size."""
    rows = dataset_rows(_workspace(args))
    if args.json:
        _json(rows)
        return 0
    columns = ["name", "version", "kind", "files", "size", "registered"]
    values = [[r[c] for c in columns] for r in rows]
    texts = [
        [r["name"], str(r["version"]), r["kind"], str(r["files"]), human_size(r["size"]), when]
        for r in rows
        for when in [_when(r["created"])]
    ]
    print(_table([c.upper() for c in columns], values, texts))
    if not rows:
        _note("no datasets yet: register one with `aml dataset register NAME PATH`")
    return 0


def cmd_dataset_show(args: argparse.Namespace) -> int:
    """``aml dataset show NAME [--version N]``: one version as JSON."""
    ws = _workspace(args)
    _json(dataset_details(ws, args.name, args.version or "latest", max_files=args.files))
    return 0


def cmd_dataset_register(args: argparse.Namespace) -> int:
    """``aml dataset register NAME PATH...``: register files (a new version with
    ``--new-version``); prints ``NAME:VERSION``."""
    ws = _workspace(args)
    tags = dict(args.tag) if args.tag else None
    try:
        dataset = register_dataset(
            ws,
            args.name,
            args.paths,
            tabular=args.tabular,
            description=args.description,
            tags=tags,
            new_version=args.new_version,
        )
    except AmlError as exc:
        raise _in_cli_words(exc, "create_new_version=True", "--new-version") from None
    record = ws.store.get_dataset_by_id(dataset.id)
    print(f"{dataset.name}:{dataset.version}")
    if record is not None:
        _note(
            f"registered dataset {dataset.name} version {dataset.version} ({record.kind}): "
            f"{record.file_count} file(s), {human_size(record.size)}"
        )
    return 0


def cmd_dataset_download(args: argparse.Namespace) -> int:
    """``aml dataset download NAME TARGET``: copy a version's files; prints each path."""
    ws = _workspace(args)
    try:
        paths = download_dataset(
            ws, args.name, args.target, args.version or "latest", overwrite=args.overwrite
        )
    except AmlError as exc:
        raise _in_cli_words(exc, "overwrite=True", "--overwrite") from None
    for path in paths:
        print(path)
    _note(f"downloaded {len(paths)} file(s) of dataset {args.name} into {args.target}")
    return 0


def cmd_dataset_unregister(args: argparse.Namespace) -> int:
    """``aml dataset unregister NAME``: forget every version of NAME (v1's
    ``unregister_all_versions``); the files stay, runs keep their lineage."""
    from ...data.abstract_dataset import AbstractDataset

    ws = _workspace(args)
    dataset = AbstractDataset.get_by_name(ws, args.name)
    versions = ws.store.dataset_versions(args.name)
    dataset.unregister_all_versions()
    _note(
        f"unregistered dataset {args.name} ({len(versions)} version(s)); its files stay where "
        "they are"
    )
    return 0


def add_commands(groups: Any, common: argparse.ArgumentParser) -> None:
    """Add the ``aml dataset`` group; ``common`` holds ``-w``."""
    cmds = command_group(groups, "dataset", help="list, show, register and download datasets")
    p = command(cmds, "list", cmd_dataset_list, common, help="the latest version of each dataset")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = command(
        cmds, "show", cmd_dataset_show, common, help="one version: definition, files, lineage"
    )
    p.add_argument("name", metavar="NAME", help="a dataset (aml dataset list names them)")
    p.add_argument("--version", type=_version, metavar="N", help="default: the latest")
    p.add_argument(
        "--files", type=_count, default=100, metavar="N", help="list at most N file names (100)"
    )

    p = command(
        cmds,
        "register",
        cmd_dataset_register,
        common,
        help="register files as a dataset (or a new version of one)",
        description="Register the files at PATH... as dataset NAME, pinned to their bytes "
        "(sizes and sha256). PATH is a local path or glob, a URL, or DATASTORE:relative/glob "
        "for files in a registered datastore. Registering the same files again gives the same "
        "version back; other files under an existing name need --new-version.",
    )
    p.add_argument("name", metavar="NAME", help="letters, digits, '-', '_' or '.'")
    p.add_argument("paths", nargs="+", metavar="PATH", help="files, folders, globs or DS:glob")
    p.add_argument(
        "--tabular",
        choices=sorted(TABULAR_FORMATS),
        help="a TabularDataset of csv, parquet or jsonl files (default: a FileDataset)",
    )
    p.add_argument("--description", metavar="TEXT", help="what the dataset is")
    p.add_argument(
        "--tag", action="append", type=_tag, metavar="KEY=VALUE", help="a tag (repeatable)"
    )
    p.add_argument(
        "--new-version", action="store_true", help="register other files under an existing name"
    )

    p = command(
        cmds, "download", cmd_dataset_download, common, help="copy a version's files to a folder"
    )
    p.add_argument("name", metavar="NAME", help="a dataset")
    p.add_argument("target", metavar="TARGET", help="the folder to copy the files into")
    p.add_argument("--version", type=_version, metavar="N", help="default: the latest")
    p.add_argument("--overwrite", action="store_true", help="replace files there already")

    p = command(
        cmds,
        "unregister",
        cmd_dataset_unregister,
        common,
        help="forget every version of a dataset (its files stay)",
    )
    p.add_argument("name", metavar="NAME", help="a dataset")

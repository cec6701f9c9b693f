"""v1's ``Dataset``: ``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_*_files(...)``
and the lookups (``get_by_name``, ``get_by_id``, ``get_all``).

``path`` is what v1 took — a ``(datastore, 'folder/**/*.csv')`` tuple, a list of them, a
DataReference-like ``datastore.path(...)``, an http(s) URL — and also any fsspec URL and a
local path or glob (v1 refused local paths; users asked for them). With ``validate=True`` (the
default) a path without files is an :class:`AmlError` now, and a tabular dataset's first file
must parse; nothing is read otherwise until the data is asked for.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .abstract_dataset import AbstractDataset
from .file_dataset import FileDataset
from .partition_format import PartitionFormat
from .sources import list_sources, parse_sources
from .tabular_dataset import TabularDataset
from .tabular_read import arrow_type, open_dataset

if TYPE_CHECKING:
    import pandas as pd

    from .datastore import Datastore


def _unsupported(option: str, value: Any, default: Any = None) -> None:
    if value != default and value is not None:
        raise AmlError(f"{option}={value!r} is not supported here; leave it at {default!r}.")


def _partition(value: Any) -> dict[str, str]:
    """``partition_format``, checked now, as the definition keeps it (nothing when None)."""
    if value is None:
        return {}
    return {"partition_format": PartitionFormat(value).text}


def _made(cls: type[AbstractDataset], path: Any, extra: dict[str, Any], validate: bool) -> Any:
    datastores: dict[str, Datastore] = {}
    sources = parse_sources(path, datastores)
    definition = {"sources": sources, **extra, "transforms": []}
    workspace = next((d.workspace for d in datastores.values() if hasattr(d, "workspace")), None)
    dataset = cls(definition, datastores=datastores, workspace=workspace)
    if validate:
        files, _ = list_sources(sources, datastores, strict=True)
        text = extra.get("partition_format") or extra.get("format", {}).get("partition_format")
        if text:  # every file's path must fit the format
            partition = PartitionFormat(text)
            for _, entry in files:
                partition.values(entry.fs_path)
        if cls is TabularDataset:
            open_dataset(definition["format"], files[:1])  # the schema of the first file
    return dataset


def _column_types(value: Any) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise AmlError(f"set_column_types is a dict of column name to type; got {value!r}.")
    out = {}
    for name, kind in value.items():
        out[name] = str(arrow_type(kind))  # refuses an unknown type now
    return out


def _header(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    name = str(getattr(value, "name", value)).upper()
    if "NO_HEADERS" in name:
        return False
    if name in (
        "ALL_FILES_HAVE_SAME_HEADERS",
        "ONLY_FIRST_FILE_HAS_HEADERS",
        "COMBINE_ALL_FILES_HEADERS",
    ):
        return True
    raise AmlError(f"header is True or False; got {value!r}.")


class FileDatasetFactory:
    """``Dataset.File``."""

    @staticmethod
    def from_files(
        path: Any, validate: bool = True, partition_format: str | None = None, is_file: bool = False
    ) -> FileDataset:
        """A FileDataset of the files at ``path`` (a folder: every file under it);
        ``partition_format`` names values in their paths (``ds.partition_keys``,
        ``ds.get_partition_key_values()``)."""
        return _made(FileDataset, path, _partition(partition_format), validate)

    @staticmethod
    def upload_directory(
        src_dir: Any,
        target: Any,
        pattern: str | None = None,
        overwrite: bool = False,
        show_progress: bool = True,
    ) -> FileDataset:
        """Upload the files under ``src_dir`` (those whose relative path matches the glob
        ``pattern``, when given) to ``target`` (``(datastore, 'folder')`` or
        ``datastore.path('folder')``) and return a FileDataset of that folder. Without
        ``overwrite``, files there already are an :class:`AmlError` naming them, and nothing
        is uploaded."""
        from .datastore import relative_path

        store, folder = _upload_target(target)
        folder = relative_path(folder)
        root = Path(src_dir).expanduser()
        if not root.is_dir():
            raise AmlError(f"upload_directory: {str(src_dir)!r} is no folder.")
        names = sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())
        if pattern is not None:
            names = [n for n in names if fnmatch.fnmatchcase(n, pattern)]
        if not names:
            raise AmlError(f"upload_directory: no files under {str(src_dir)!r} to upload.")
        if not overwrite:
            fs = store.filesystem()
            there = [n for n in names if fs.exists(store.fs_path(f"{folder}/{n}".lstrip("/")))]
            if there:
                raise AmlError(
                    f"upload_directory: {len(there)} file(s) exist already in {store.name!r} "
                    f"under {folder or '/'!r} (e.g. {there[0]!r}): pass overwrite=True, or "
                    "another target folder. Nothing was uploaded."
                )
        store.upload_files(
            [root / n for n in names],
            root,
            folder or None,
            overwrite=True,
            show_progress=show_progress,
        )
        return _made(FileDataset, (store, f"{folder}/**" if folder else "**"), {}, True)


def _upload_target(target: Any) -> tuple[Datastore, str]:
    if isinstance(target, tuple) and len(target) == 2 and hasattr(target[0], "fs_path"):
        return target[0], target[1]
    if hasattr(target, "datastore") and hasattr(target, "path_on_datastore"):
        return target.datastore, target.path_on_datastore
    raise AmlError(
        "upload_directory's target is a (datastore, 'folder') tuple or datastore.path('folder')."
    )


class TabularDatasetFactory:
    """``Dataset.Tabular``."""

    @staticmethod
    def from_delimited_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        infer_column_types: bool = True,
        set_column_types: dict[str, Any] | None = None,
        separator: str = ",",
        header: Any = True,
        partition_format: str | None = None,
        support_multi_line: bool = False,
        empty_as_string: bool = False,
        encoding: str = "utf8",
    ) -> TabularDataset:
        """Rows of CSV (or other ``separator``) files; ``partition_format`` adds columns
        taken from each file's path (a filter on them skips files unread)."""
        if not isinstance(separator, str) or len(separator) != 1:
            raise AmlError(f"separator is one character; got {separator!r}.")
        fmt = {
            "type": "delimited",
            "separator": separator,
            "header": _header(header),
            "infer_column_types": bool(infer_column_types),
            "column_types": _column_types(set_column_types),
            "include_path": bool(include_path),
            "support_multi_line": bool(support_multi_line),
            "empty_as_string": bool(empty_as_string),
            "encoding": str(encoding),
            **_partition(partition_format),
        }
        return _made(TabularDataset, path, {"format": fmt}, validate)

    @staticmethod
    def from_parquet_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: dict[str, Any] | None = None,
        partition_format: str | None = None,
    ) -> TabularDataset:
        """Rows of parquet files (``partition_format``: as in :meth:`from_delimited_files`)."""
        fmt = {
            "type": "parquet",
            "column_types": _column_types(set_column_types),
            "include_path": bool(include_path),
            **_partition(partition_format),
        }
        return _made(TabularDataset, path, {"format": fmt}, validate)

    @staticmethod
    def from_json_lines_files(
        path: Any,
        validate: bool = True,
        include_path: bool = False,
        set_column_types: dict[str, Any] | None = None,
        partition_format: str | None = None,
        invalid_lines: str = "error",
        encoding: str = "utf8",
    ) -> TabularDataset:
        """Rows of JSON-lines files, one object a line (``partition_format``: as in
        :meth:`from_delimited_files`)."""
        _unsupported("invalid_lines", invalid_lines, "error")
        _unsupported("encoding", encoding, "utf8")
        fmt = {
            "type": "json_lines",
            "column_types": _column_types(set_column_types),
            "include_path": bool(include_path),
            **_partition(partition_format),
        }
        return _made(TabularDataset, path, {"format": fmt}, validate)

    @staticmethod
    def from_sql_query(*args: Any, **kwargs: Any) -> TabularDataset:
        raise AmlError(
            "Dataset.Tabular.from_sql_query is not supported here: run the query with pandas "
            "(pd.read_sql), save the result as parquet, and use from_parquet_files."
        )

    @staticmethod
    def register_pandas_dataframe(
        dataframe: pd.DataFrame,
        target: Any,
        name: str,
        description: str | None = None,
        tags: dict[str, Any] | None = None,
        show_progress: bool = True,
        row_group_size: int | None = None,
        make_target_path_unique: bool = True,
    ) -> TabularDataset:
        """Write ``dataframe`` as parquet into ``target`` (a ``(datastore, 'folder')`` tuple)
        and register it as ``name`` (a new version when the name exists)."""
        import uuid

        import pyarrow as pa
        import pyarrow.parquet as pq

        from .datastore import relative_path

        if not (isinstance(target, tuple) and len(target) == 2 and hasattr(target[0], "fs_path")):
            raise AmlError("target is a (datastore, 'folder') tuple.")
        store, folder = target
        folder = relative_path(folder)
        if make_target_path_unique:
            folder = f"{folder}/{uuid.uuid4()}" if folder else str(uuid.uuid4())
        fs = store.filesystem()
        where = store.fs_path(f"{folder}/part-00000.parquet")
        fs.makedirs(store.fs_path(folder), exist_ok=True)
        with fs.open(where, "wb") as f:
            pq.write_table(pa.Table.from_pandas(dataframe), f, row_group_size=row_group_size)
        dataset = TabularDatasetFactory.from_parquet_files((store, f"{folder}/*.parquet"))
        return dataset.register(
            store.workspace, name, description=description, tags=tags, create_new_version=True
        )


class Dataset:
    """v1's entry point: ``Dataset.File``, ``Dataset.Tabular`` and the lookups."""

    File = FileDatasetFactory
    Tabular = TabularDatasetFactory
    get_by_name = staticmethod(AbstractDataset.get_by_name)
    get_by_id = staticmethod(AbstractDataset.get_by_id)
    get_all = staticmethod(AbstractDataset.get_all)

"""v1's ``Dataset``: ``Dataset.File.from_files(...)``, ``Dataset.Tabular.from_*_files(...)``
and the lookups (``get_by_name``, ``get_by_id``, ``get_all``).

``path`` is what v1 took — a ``(datastore, 'folder/**/*.csv')`` tuple, a list of them, a
DataReference-like ``datastore.path(...)``, an http(s) URL — and also any fsspec URL and a
local path or glob (v1 refused local paths; users asked for them). With ``validate=True`` (the
default) a path without files is an :class:`AmlError` now, and a tabular dataset's first file
must parse; nothing is read otherwise until the data is asked for.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .abstract_dataset import AbstractDataset
from .file_dataset import FileDataset
from .sources import list_sources, parse_sources
from .tabular_dataset import TabularDataset
from .tabular_read import arrow_type, open_dataset

if TYPE_CHECKING:
    import pandas as pd

    from .datastore import Datastore


def _unsupported(option: str, value: Any, default: Any = None) -> None:
    if value != default and value is not None:
        raise AmlError(f"{option}={value!r} is not supported here; leave it at {default!r}.")


def _made(cls: type[AbstractDataset], path: Any, extra: dict[str, Any], validate: bool) -> Any:
    datastores: dict[str, Datastore] = {}
    sources = parse_sources(path, datastores)
    definition = {"sources": sources, **extra, "transforms": []}
    workspace = next((d.workspace for d in datastores.values() if hasattr(d, "workspace")), None)
    dataset = cls(definition, datastores=datastores, workspace=workspace)
    if validate:
        files, _ = list_sources(sources, datastores, strict=True)
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
        """A FileDataset of the files at ``path`` (a folder: every file under it)."""
        _unsupported("partition_format", partition_format)
        return _made(FileDataset, path, {}, validate)

    @staticmethod
    def upload_directory(*args: Any, **kwargs: Any) -> FileDataset:
        raise AmlError(
            "Dataset.File.upload_directory is not supported here: upload with "
            "datastore.upload(src_dir, target_path), then Dataset.File.from_files((datastore, "
            "target_path))."
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
        """Rows of CSV (or other ``separator``) files."""
        _unsupported("partition_format", partition_format)
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
        """Rows of parquet files."""
        _unsupported("partition_format", partition_format)
        fmt = {
            "type": "parquet",
            "column_types": _column_types(set_column_types),
            "include_path": bool(include_path),
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
        """Rows of JSON-lines files (one object a line)."""
        _unsupported("partition_format", partition_format)
        _unsupported("invalid_lines", invalid_lines, "error")
        _unsupported("encoding", encoding, "utf8")
        fmt = {
            "type": "json_lines",
            "column_types": _column_types(set_column_types),
            "include_path": bool(include_path),
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

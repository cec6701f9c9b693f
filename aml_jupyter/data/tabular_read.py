"""Reading a tabular dataset with pyarrow: the files as one ``pyarrow.dataset``, its recorded
transforms run as a stream of record batches.

The leading column selections and filters go into pyarrow's scanner (only the columns and row
groups needed are read); a ``take(n)`` stops the stream after ``n`` rows, so the rest of the
files are never opened. Without row-count transforms the whole read is one
``Dataset.to_table`` call, as fast as reading the files with pyarrow directly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .expressions import columns_of, to_arrow
from .sources import FileEntry, Resolved

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.dataset as pds

#: Transforms that change which columns or rows are kept without counting rows.
_PUSHABLE = ("keep_columns", "drop_columns", "filter")
#: v1's type names for set_column_types, as pyarrow types.
_TYPES = {
    "str": "string",
    "string": "string",
    "int": "int64",
    "integer": "int64",
    "long": "int64",
    "float": "float64",
    "double": "float64",
    "decimal": "float64",
    "bool": "bool",
    "boolean": "bool",
    "datetime": "timestamp[us]",
    "date": "date32",
}


def _file_format(fmt: Mapping[str, Any]) -> Any:
    import pyarrow.csv as csv
    import pyarrow.dataset as pds

    kind = fmt.get("type")
    if kind == "delimited":
        return pds.CsvFileFormat(
            parse_options=csv.ParseOptions(
                delimiter=fmt.get("separator", ","),
                newlines_in_values=bool(fmt.get("support_multi_line")),
            ),
            read_options=csv.ReadOptions(
                autogenerate_column_names=not fmt.get("header", True),
                encoding=fmt.get("encoding", "utf8"),
            ),
            convert_options=csv.ConvertOptions(
                strings_can_be_null=not fmt.get("empty_as_string", False)
            ),
        )
    if kind == "parquet":
        return pds.ParquetFileFormat()
    if kind == "json_lines":
        return pds.JsonFileFormat()
    raise AmlError(f"A tabular dataset's format is unreadable: {kind!r}.")


def _arrow_fs(resolved: Resolved) -> Any:
    import pyarrow.fs as pafs

    if resolved.fs is None:
        return pafs.LocalFileSystem()
    return pafs.PyFileSystem(pafs.FSSpecHandler(resolved.fs))


def arrow_type(value: Any) -> pa.DataType:
    """A column type of ``set_column_types``: a v1 name, a pyarrow type or a numpy dtype."""
    import pyarrow as pa

    if isinstance(value, pa.DataType):
        return value
    text = getattr(value, "__name__", None) or str(value)
    text = _TYPES.get(text.lower(), text.lower())
    try:
        return pa.type_for_alias(text)
    except (ValueError, KeyError):
        try:
            return pa.from_numpy_dtype(value)
        except (TypeError, ValueError, pa.ArrowException):
            pass
    raise AmlError(
        f"Unknown column type {value!r}: use one of {', '.join(sorted(set(_TYPES)))} or a "
        "pyarrow type."
    )


def open_dataset(
    fmt: Mapping[str, Any], files: Sequence[tuple[Resolved, FileEntry]]
) -> pds.Dataset:
    """The files as one pyarrow dataset (an empty table when there are none)."""
    import pyarrow as pa
    import pyarrow.dataset as pds

    file_format = _file_format(fmt)
    groups: list[tuple[Resolved, list[str]]] = []
    for resolved, entry in files:
        if groups and groups[-1][0] is resolved:
            groups[-1][1].append(entry.fs_path)
        else:
            groups.append((resolved, [entry.fs_path]))
    if not groups:
        return pds.dataset(pa.table({}))
    if fmt.get("partition_format"):
        return _partitioned(fmt, file_format, groups)
    try:
        parts = [
            pds.dataset(paths, format=file_format, filesystem=_arrow_fs(r)) for r, paths in groups
        ]
        schema = parts[0].schema
        schema = _typed(schema, fmt)
        parts = [
            pds.dataset(paths, format=file_format, filesystem=_arrow_fs(r), schema=schema)
            for r, paths in groups
        ]
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(exc) from exc
    return parts[0] if len(parts) == 1 else pds.dataset(parts)


def _partitioned(
    fmt: Mapping[str, Any], file_format: Any, groups: list[tuple[Resolved, list[str]]]
) -> pds.Dataset:
    """The files as fragments that each know their partition values (see
    :mod:`.partition_format`): a filter on those columns skips files, unopened."""
    import pyarrow as pa
    import pyarrow.dataset as pds

    from .partition_format import PartitionFormat

    partition = PartitionFormat(fmt["partition_format"])
    try:
        first_fs = _arrow_fs(groups[0][0])
        schema = _typed(
            pds.dataset(groups[0][1][:1], format=file_format, filesystem=first_fs).schema, fmt
        )
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise unreadable(exc) from exc
    clash = sorted(set(partition.names) & set(schema.names))
    if clash:
        raise AmlError(
            f"partition_format names columns the files have already: {', '.join(clash)}; "
            "rename them in the format."
        )
    schema = pa.schema([*schema, *partition.fields])
    parts = []
    for resolved, paths in groups:
        fs = _arrow_fs(resolved)
        fragments = [
            file_format.make_fragment(
                path,
                filesystem=fs,
                partition_expression=partition.expression(partition.values(path)),
            )
            for path in paths
        ]
        parts.append(pds.FileSystemDataset(fragments, schema, file_format, fs))
    return parts[0] if len(parts) == 1 else pds.dataset(parts)


def _typed(schema: pa.Schema, fmt: Mapping[str, Any]) -> pa.Schema:
    import pyarrow as pa

    types = dict(fmt.get("column_types") or {})
    unknown = sorted(set(types) - set(schema.names))
    if unknown:
        raise AmlError(
            f"set_column_types names columns the files do not have: {', '.join(unknown)} "
            f"(columns: {', '.join(schema.names)})."
        )
    fields = []
    for field in schema:
        if field.name in types:
            field = field.with_type(arrow_type(types[field.name]))
        elif fmt.get("type") == "delimited" and not fmt.get("infer_column_types", True):
            field = field.with_type(pa.string())
        fields.append(field)
    return pa.schema(fields)


def unreadable(exc: BaseException) -> AmlError:
    """A pyarrow read error as the one error users see, saying which file."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return AmlError(f"The dataset's files cannot be read as this format: {text}")


def plan(
    names: Sequence[str], transforms: Sequence[Mapping[str, Any]], include_path: bool
) -> tuple[list[str], list[str], Any, list[dict[str, Any]]]:
    """Split the transforms into what the scanner does and the rest, checking every column
    they name exists where it is used: ``(result columns, columns read, the scanner's
    filter, the other steps)``."""
    current = [*names, "Path"] if include_path else list(names)
    read: list[str] | None = None
    pushed_filter: Any = None
    rest: list[dict[str, Any]] = []
    for step in transforms:
        op = step.get("op")
        if op in ("keep_columns", "drop_columns"):
            wanted = list(step.get("columns") or [])
            missing = [c for c in wanted if c not in current]
            if missing and step.get("validate", True):
                raise AmlError(
                    f"{op} names columns the dataset does not have here: {', '.join(missing)} "
                    f"(columns: {', '.join(current)})."
                )
            if op == "keep_columns":
                current = [c for c in current if c in wanted]
            else:
                current = [c for c in current if c not in wanted]
        elif op == "filter":
            missing = sorted(columns_of(step.get("expression")) - set(current))
            if missing:
                raise AmlError(
                    f"The filter reads columns the dataset does not have here: "
                    f"{', '.join(missing)} (columns: {', '.join(current)})."
                )
        elif op not in ("skip", "take", "split"):
            raise AmlError(f"A dataset transform is unreadable: {op!r}.")
        if op in _PUSHABLE and read is None:
            if op == "filter":
                expr = to_arrow(step["expression"])
                pushed_filter = expr if pushed_filter is None else pushed_filter & expr
            continue
        if read is None:  # the first row-counting step: the scanner reads what is here
            read = list(current)
        rest.append({**step, "_columns": list(current)})
    return current, (list(current) if read is None else read), pushed_filter, rest


def batches(
    dataset: pds.Dataset,
    transforms: Sequence[Mapping[str, Any]],
    include_path: bool,
    batch_size: int = 64 * 1024,
) -> tuple[pa.Schema, Iterator[pa.RecordBatch]]:
    """The schema of the result and a stream of its batches, in file order."""
    import pyarrow as pa

    names, read, pushed_filter, rest = plan(dataset.schema.names, transforms, include_path)
    file_columns = [c for c in read if c in dataset.schema.names]
    fields = [dataset.schema.field(c) for c in file_columns]
    if include_path and "Path" in read:
        fields.append(pa.field("Path", pa.string()))
    read_schema = pa.schema(fields)
    final = pa.schema([read_schema.field(c) for c in names])
    # With a take, no read-ahead: pyarrow would decode the next 16 batches in the background
    # (up to a whole file) for rows that are never asked for.
    readahead = 0 if any(step["op"] == "take" for step in rest) else 16

    def scan() -> Iterator[pa.RecordBatch]:
        # The filter also skips files whose partition values it rules out, unopened.
        for fragment in dataset.get_fragments(filter=pushed_filter):
            try:
                for batch in fragment.to_batches(
                    schema=dataset.schema,
                    columns=file_columns,
                    filter=pushed_filter,
                    batch_size=batch_size,
                    batch_readahead=readahead,
                ):
                    if len(fields) > len(file_columns):
                        path = pa.array([fragment.path] * batch.num_rows, pa.string())
                        batch = pa.RecordBatch.from_arrays(
                            [*batch.columns, path], schema=read_schema
                        )
                    yield batch
            except (pa.ArrowException, OSError) as exc:
                raise unreadable(exc) from exc

    return final, _apply(scan(), rest, final)


def _apply(
    stream: Iterator[pa.RecordBatch], rest: Sequence[Mapping[str, Any]], final: pa.Schema
) -> Iterator[pa.RecordBatch]:
    import numpy as np

    for step in rest:
        op = step["op"]
        if op in ("keep_columns", "drop_columns"):
            stream = _select(stream, step["_columns"])
        elif op == "filter":
            stream = _filter(stream, to_arrow(step["expression"]))
        elif op == "skip":
            stream = _window(stream, int(step["count"]), None)
        elif op == "take":
            stream = _window(stream, 0, int(step["count"]))
        else:  # split: one uniform number a row, in stream order, from the seed
            rng = np.random.default_rng(step.get("seed"))
            stream = _sample(stream, rng, float(step["percentage"]), int(step.get("part", 0)))
    return _select(stream, final.names)


def _select(stream: Iterator[pa.RecordBatch], columns: list[str]) -> Iterator[pa.RecordBatch]:
    for batch in stream:
        yield batch.select(columns) if batch.schema.names != columns else batch


def _filter(stream: Iterator[pa.RecordBatch], expr: Any) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    for batch in stream:
        try:
            yield batch.filter(expr)
        except pa.ArrowException as exc:
            raise AmlError(f"The filter cannot be applied to these columns: {exc}") from exc


def _window(
    stream: Iterator[pa.RecordBatch], skip: int, take: int | None
) -> Iterator[pa.RecordBatch]:
    seen = 0
    kept = 0
    for batch in stream:
        if take is not None and kept >= take:
            return
        start = max(0, skip - seen)
        seen += batch.num_rows
        if start >= batch.num_rows:
            continue
        piece = batch.slice(start)
        if take is not None:
            piece = piece.slice(0, take - kept)
        kept += piece.num_rows
        yield piece
        if take is not None and kept >= take:
            return


def _sample(
    stream: Iterator[pa.RecordBatch], rng: Any, percentage: float, part: int
) -> Iterator[pa.RecordBatch]:
    import pyarrow as pa

    for batch in stream:
        draws = rng.random(batch.num_rows)
        mask = draws < percentage if part == 0 else draws >= percentage
        yield batch.filter(pa.array(mask))


def to_table(
    dataset: pds.Dataset, transforms: Sequence[Mapping[str, Any]], include_path: bool
) -> pa.Table:
    """The whole result as one table: one scanner call when nothing counts rows."""
    import pyarrow as pa

    names, _, pushed_filter, rest = plan(dataset.schema.names, transforms, include_path)
    if not rest and not include_path:
        try:
            return dataset.to_table(columns=names, filter=pushed_filter)
        except (pa.ArrowException, OSError) as exc:
            raise unreadable(exc) from exc
    schema, stream = batches(dataset, transforms, include_path)
    return pa.Table.from_batches(list(stream), schema=schema)

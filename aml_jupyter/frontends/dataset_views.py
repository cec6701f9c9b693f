"""What the data front ends share: ``aml dataset ...``, ``%aml_datasets`` and the REST API's
datasets and datastores show the same rows, built here from the Python API (``Dataset``,
``ws.datastores``), so a change to what a dataset shows is made once.

Nothing here ever reads a datastore's credentials: a datastore is shown by its kind, where its
files are and its settings (``DatastoreRecord.config``, which holds none).
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import AmlError

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: The most file names one details answer lists (the count and size are always whole).
MAX_FILES_SHOWN = 1000
#: ``DATASTORE:relative/glob`` on a command line (a datastore name is letters, digits, ``_``).
_ON_DATASTORE = re.compile(r"^([A-Za-z0-9_]{1,100}):(.*)$", re.DOTALL)
#: ``--tabular`` formats and the ``Dataset.Tabular`` factory each one calls.
TABULAR_FORMATS = {
    "csv": "from_delimited_files",
    "parquet": "from_parquet_files",
    "jsonl": "from_json_lines_files",
}


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def human_size(size: int) -> str:
    """``512 B``, ``3.4 KB``, ``1.2 GB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1024 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{size} B"  # pragma: no cover (the loop always returns)


# datasets -----------------------------------------------------------------------------------
def _summary(record: Any) -> dict[str, Any]:
    return {
        "name": record.name,
        "version": record.version,
        "id": record.id,
        "kind": record.kind,
        "files": record.file_count,
        "size": record.size,
        "registered": _iso(record.created_utc),
        "created": record.created_utc,
        "description": record.description,
        "tags": dict(record.tags),
    }


def dataset_rows(ws: Workspace) -> list[dict[str, Any]]:
    """The latest version of every registered dataset, by name; ``runs``: how many runs read
    or wrote that version (counted for all in one store query)."""
    records = ws.store.list_datasets()
    runs = ws.store.dataset_run_counts(r.id for r in records)
    return [{**_summary(r), "runs": runs[r.id]} for r in records]


def dataset_versions(ws: Workspace, name: str) -> list[dict[str, Any]]:
    """Every version of ``name``, newest first (an :class:`AmlError` when there is none)."""
    from ..data.dataset_factory import Dataset

    Dataset.get_by_name(ws, name)  # an error naming the datasets there are, if no such one
    records = (ws.store.get_dataset(name, v) for v in reversed(ws.store.dataset_versions(name)))
    return [_summary(r) for r in records if r is not None]


def dataset_details(
    ws: Workspace,
    name: str,
    version: int | str = "latest",
    max_files: int = MAX_FILES_SHOWN,
    files_offset: int = 0,
) -> dict[str, Any]:
    """One version: its summary, definition (sources, format, transforms), the names of its
    files as registered (at most ``max_files`` from ``files_offset``, in name order;
    ``files_cut`` says when more follow), every version of the name, and the runs that read
    or wrote this version."""
    from ..data.dataset_factory import Dataset

    dataset = Dataset.get_by_name(ws, name, version)
    record = ws.store.get_dataset_by_id(dataset.id)
    if record is None:  # unregistered since the lookup
        raise AmlError(f"Dataset {name!r} was unregistered while it was read.")
    files = ws.store.dataset_files(record.id)
    lineage = [
        {"run_id": r.run_id, "direction": r.direction, "as": r.name}
        for r in ws.store.dataset_lineage(record.id)
    ]
    return {
        **_summary(record),
        "fingerprint": record.fingerprint,
        "definition": _shown_definition(dataset.definition),
        "file_names": [
            {"path": f.path, "size": f.size} for f in files[files_offset : files_offset + max_files]
        ],
        "files_offset": files_offset,
        "files_cut": len(files) > files_offset + max_files,
        "versions": sorted(ws.store.dataset_versions(name), reverse=True),
        "lineage": lineage,
    }


def _shown_definition(definition: dict[str, Any]) -> dict[str, Any]:
    """The definition as shown: a URL source without its query or user info (a SAS token in
    an https URL is a credential; see :func:`no_secrets`)."""
    sources = [
        {k: no_secrets(v) if k == "url" else v for k, v in source.items()}
        for source in definition.get("sources", [])
    ]
    return {**definition, "sources": sources}


def _source(ws: Workspace, text: str) -> Any:
    """One command-line path: a URL, ``DATASTORE:relative/glob``, or a local path or glob."""
    from ..data.datastore import get_datastore

    if "://" in text:
        return text
    match = _ON_DATASTORE.match(text)
    if match is None or Path(text).exists():
        return text
    try:
        store = get_datastore(ws, match.group(1))
    except AmlError as exc:
        raise AmlError(f"{exc} (A local path with a ':' in it: write ./{text}.)") from None
    return (store, match.group(2))


def register_dataset(
    ws: Workspace,
    name: str,
    paths: list[str],
    tabular: str | None = None,
    description: str | None = None,
    tags: dict[str, Any] | None = None,
    new_version: bool = False,
) -> Any:
    """Register ``paths`` (see :func:`_source`) as dataset ``name``: a FileDataset, or with
    ``tabular`` (``csv``, ``parquet``, ``jsonl``) a TabularDataset; returns the version."""
    from ..data.dataset_factory import Dataset

    if tabular is not None and tabular not in TABULAR_FORMATS:
        raise AmlError(f"--tabular is one of {', '.join(TABULAR_FORMATS)}; got {tabular!r}.")
    sources = [_source(ws, p) for p in paths]
    path: Any = sources if len(sources) > 1 else sources[0]
    if tabular is None:
        dataset = Dataset.File.from_files(path)
    else:
        dataset = getattr(Dataset.Tabular, TABULAR_FORMATS[tabular])(path)
    return dataset.register(
        ws, name, description=description, tags=tags, create_new_version=new_version
    )


def download_dataset(
    ws: Workspace,
    name: str,
    target: str,
    version: int | str = "latest",
    overwrite: bool = False,
) -> list[str]:
    """Copy a registered version's files into ``target`` (checked against the bytes it was
    registered with first); a tabular dataset's source files likewise. Returns the paths."""
    from ..data.dataset_factory import Dataset
    from ..data.file_dataset import FileDataset

    dataset = Dataset.get_by_name(ws, name, version)
    if not isinstance(dataset, FileDataset):
        # Its files, not its rows: the same sources and pinned files, no row transforms.
        definition = {"sources": dataset.definition["sources"], "transforms": []}
        dataset = FileDataset(
            definition, workspace=ws, record=ws.store.get_dataset_by_id(dataset.id)
        )
    return dataset.download(target, overwrite=overwrite)


# datastores ---------------------------------------------------------------------------------
def datastore_where(ds: Any) -> str:
    """Where a datastore's files are, in a few words (no credentials)."""
    if hasattr(ds, "folder"):
        return str(ds.folder)
    if hasattr(ds, "bucket"):
        where = f"s3://{ds.bucket}/{ds.prefix}".rstrip("/")
        return f"{where} at {ds.endpoint_url}" if ds.endpoint_url else where
    return f"{no_secrets(ds.account_url).rstrip('/')}/{ds.container_name}"


def no_secrets(value: Any) -> Any:
    """A setting as shown: a URL loses its query and its user info (a SAS token or a
    password pasted into an endpoint would be there), anything else is shown as it is."""
    if not isinstance(value, str) or "://" not in value:
        return value
    parts = urlsplit(value)
    if not (parts.query or parts.username or parts.password):
        return value
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def datastore_rows(ws: Workspace) -> list[dict[str, Any]]:
    """Every datastore: name, kind, where, whether it is the default, its settings and
    whether it holds credentials (never the credentials)."""
    default = ws.get_default_datastore().name
    rows = []
    for ds in ws.datastores.values():
        record = ws.store.get_datastore(ds.name)
        rows.append(
            {
                "name": ds.name,
                "kind": ds.datastore_type,
                "where": no_secrets(datastore_where(ds)),
                "default": ds.name == default,
                "settings": {k: no_secrets(v) for k, v in record.config.items()}
                if record
                else {"folder": datastore_where(ds)},
                "has_credentials": bool(record and record.credentials_secret),
            }
        )
    return rows

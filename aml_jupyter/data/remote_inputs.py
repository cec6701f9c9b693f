"""A remote run's inputs resolved at submit into grants the node reads them by (no keys).

Each input's registered (or saved) version is checked against its pinned bytes first, as a
local run does. Then each file gets a grant: a read-only, short-lived URL for a store that can
sign one (:mod:`.signed_urls`: Azure Blob / ADLS Gen2 with an account key, S3), else its bytes
are shipped with the run, content-addressed by sha256 in this workspace's blob store (a local
folder, ``workspaceblobstore``, local paths, other URLs, a blob store registered with only a
SAS token or a service principal: their credential never leaves this machine). Shipped bytes
are capped (``AML_SHIP_DATA_MAX_BYTES``, default 1 GiB, a target may ask for less): past it,
an :class:`AmlError` says what to do.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import AmlError
from .grants import FileGrant, Grants, InputGrant, dump
from .signed_urls import Signer, grant_seconds
from .sources import resolve

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

SHIP_ENV = "AML_SHIP_DATA_MAX_BYTES"
SHIP_DEFAULT = 1024**3


class Resolution(NamedTuple):
    """What a submit sends: the grants file's bytes and the blobs (sha256) to ship with it."""

    grants: bytes
    shipped: list[str]
    shipped_bytes: int
    signed: int


def ship_limit(target_limit: int | None = None) -> int:
    text = os.environ.get(SHIP_ENV, "").strip()
    try:
        limit = int(text) if text else SHIP_DEFAULT
    except ValueError:
        raise AmlError(f"{SHIP_ENV} is a number of bytes; got {text!r}.") from None
    return min(limit, target_limit) if target_limit else limit


def resolve_inputs(
    ws: Workspace, definition: dict[str, Any], target_limit: int | None = None
) -> Resolution:
    """The grants of ``definition``'s inputs (see the module's docstring)."""
    from .abstract_dataset import AbstractDataset

    seconds = grant_seconds()
    limit = ship_limit(target_limit)
    signers: dict[str, Signer] = {}
    shipped: dict[str, int] = {}
    signed = 0
    inputs = []
    for spec in definition.get("inputDatasets") or []:
        name = spec["name"]
        dataset = AbstractDataset.get_by_id(ws, spec["datasetId"])
        try:
            files = dataset._checked_files()  # a changed version fails the submit here
        except AmlError as exc:
            raise AmlError(f"Input dataset {name!r}: {exc}") from None
        pinned = {row[0]: (row[1], row[2]) for row in dataset._pinned_files() or []}
        stores = dataset._datastore_map()
        by_display = {}
        for source in dataset.definition["sources"]:
            by_display[resolve(source, stores).display] = source.get("datastore")
        rows = []
        for resolved, entry in files:
            size, sha = pinned.get(entry.rel, (entry.size, ""))
            store_name = by_display.get(resolved.display)
            url = None
            if store_name is not None:
                if store_name not in signers:
                    signers[store_name] = Signer(stores[store_name], seconds)
                url = signers[store_name].url(entry.fs_path)
            if url is None:
                sha = _ship(ws, resolved, entry, sha, name)
                if sha not in shipped:
                    shipped[sha] = ws.blobs.size(sha)
                    if sum(shipped.values()) > limit:
                        raise AmlError(
                            f"Input dataset {name!r}: more than {_size(limit)} of its "
                            "files would be shipped with the run (they are in a local folder, "
                            "or a store this machine cannot sign read-only URLs for). Put "
                            "them in an Azure Blob (account key) or S3 datastore, which the "
                            f"node reads directly, or raise {SHIP_ENV}."
                        )
            else:
                signed += 1
            rows.append(FileGrant(entry.rel, size, sha, url))
        kind = str(spec.get("kind") or dataset._kind)
        record = dataset._record
        inputs.append(
            InputGrant(
                name,
                spec["datasetId"],
                kind,
                dataset.definition,
                tuple(rows),
                record.name if record else "",
                record.version if record else 1,
            )
        )
    grants = Grants(time.time() + seconds, tuple(inputs))
    return Resolution(dump(grants), sorted(shipped), sum(shipped.values()), signed)


def _size(n: int) -> str:
    return f"{n / 2**20:.0f} MiB" if n >= 2**20 else f"{n} bytes"


def _ship(ws: Workspace, resolved: Any, entry: Any, pinned_sha: str, name: str) -> str:
    """The file's bytes into this workspace's blob store; its sha256, which must be the
    pinned one (a file changed since the check above fails the submit, naming it)."""
    try:
        if resolved.fs is None:
            sha, _ = ws.blobs.put_file(entry.fs_path)
        else:
            with resolved.fs.open(entry.fs_path, "rb") as f:
                sha, _ = ws.blobs.put_stream(f)
    except OSError as exc:
        raise AmlError(f"Input dataset {name!r}: cannot read {entry.rel}: {exc}") from None
    if pinned_sha and sha != pinned_sha:
        raise AmlError(
            f"Input dataset {name!r}: {entry.rel} changed while the run was submitted; "
            "submit again."
        )
    return sha


__all__ = ["Resolution", "resolve_inputs", "ship_limit"]

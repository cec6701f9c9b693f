"""Datasets of a run on a remote node (a compute instance's agent, a Ray job's driver): read
through the grants the submitter made (:mod:`.grants`), never with a datastore's key.

Before the script starts every input file is fetched (a signed URL by plain HTTP, or a
shipped blob) into the run's folder and checked against its pinned size and sha256: a file
that changed since submit fails the run then, naming it. The script gets v1's contract as on
``local``: mount and download are a local folder (a mount's files read-only), direct the
dataset's id, and ``run.input_datasets[name]`` a dataset over the fetched files (its
definition and transforms kept). Outputs are an empty folder; when the run completes its files
become run files ``datasets/outputs/<name>/...``, which come back with the run's other files;
the submitting side uploads and registers them (:mod:`.run_data`). The grants themselves are
removed from the node once read (an agent's blob, the file in a Ray job's package).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ..errors import AmlError
from ..paths import checked_relative_name
from ..store.blobs import check_sha256
from .grants import FileGrant, Grants, parse, shown
from .run_contract import with_outputs

if TYPE_CHECKING:
    from ..store.run_folder import RunFolder
    from ..tracking.workspace import Workspace

#: Marks a run folder whose datasets were laid out here as a node (not the submitting side).
NODE_MARK = ".on-node"
DIRECT_FILE = "direct.json"
#: Where a run's returned output files are among its files.
OUTPUT_PREFIX = "datasets/outputs"
#: Where a Ray job's data package puts its files (a folder on the job's PYTHONPATH).
PACKAGE_FOLDER = "aml_run_data"
_TAG = re.compile(r"[0-9a-f]{32}")
#: In a rank's copy of ``remoteData``: the grants its driver read (never stored or logged).
INLINE_KEY = "grantsFromDriver"
_PIECE = 1 << 20
#: Files fetched at once (``AML_DATA_FETCHERS`` on the node, 8 by default).
_FETCHERS_TEXT = os.environ.get("AML_DATA_FETCHERS", "").strip()
FETCHERS = max(1, int(_FETCHERS_TEXT)) if _FETCHERS_TEXT.isdigit() else 8
_TIMEOUT_S = 60.0

OpenBlob = Callable[[str], BinaryIO]


def on_node(ws: Workspace, run_id: str) -> bool:
    """Whether this run's datasets were laid out by this process's side as a node."""
    return (ws.store.run_folder(run_id).datasets / NODE_MARK).exists()


def _locate(ws: Workspace, remote: Any) -> tuple[bytes, OpenBlob]:
    """The grants file's bytes and how to open a shipped blob, from ``remoteData``."""
    if not isinstance(remote, dict):
        raise AmlError("The run's remoteData is not an object; submit it again.")
    if "grants" in remote:  # a compute instance: both are blobs of the agent's workspace
        sha = check_sha256(remote["grants"], "grants blob")
        try:
            data = ws.blobs.read_bytes(sha)
        except OSError:
            raise AmlError("The run's grants file did not arrive; submit it again.") from None
        ws.blobs.path(sha).unlink(missing_ok=True)  # read once: it holds signatures
        return data, ws.blobs.open
    inline = remote.get(INLINE_KEY)
    if isinstance(inline, bytes):  # a rank's: the grants its driver took from the package
        return inline, _package_blobs(_package_folder(remote, need_grants=False) / "blobs")
    folder = _package_folder(remote, need_grants=True)
    return _take_grants_file(folder), _package_blobs(folder / "blobs")


def _take_grants_file(folder: Path) -> bytes:
    """The package's grants, deleted once read: they hold signatures, and the package is
    this run's alone."""
    grants = folder / "grants.json"
    data = grants.read_bytes()
    grants.unlink(missing_ok=True)
    return data


def _mark_on_node(ws: Workspace, run_id: str) -> RunFolder:
    """The run's datasets are this node's: its outputs go back as run files (see finish)."""
    folder = ws.store.run_folder(run_id)
    folder.datasets.mkdir(parents=True, exist_ok=True)
    (folder.datasets / NODE_MARK).touch()
    return folder


def _package_folder(remote: dict[str, Any], need_grants: bool) -> Path:
    tag = remote.get("package")
    if not isinstance(tag, str) or not _TAG.fullmatch(tag):
        raise AmlError("The run's remoteData names no grants; submit it again.")
    for entry in sys.path:  # a Ray py_modules package is a folder on the job's path
        folder = Path(entry or ".") / PACKAGE_FOLDER / tag
        if (folder / "grants.json").is_file() if need_grants else folder.is_dir():
            return folder
    raise AmlError("The run's data package is not on this node's path; submit it again.")


def take_grants(ws: Workspace, run_id: str, definition: dict[str, Any]) -> bytes:
    """In a Ray driver whose processes run as rank actors: the grants out of the job's
    package (deleted there), for the ranks to lay out the data on their own nodes
    (:func:`for_rank`); the run's datasets are marked a node's here (its outputs come back
    as run files, sent by rank 0)."""
    remote = definition.get("remoteData")
    if not isinstance(remote, dict):
        raise AmlError("The run's remoteData is not an object; submit it again.")
    data = _take_grants_file(_package_folder(remote, need_grants=True))
    _mark_on_node(ws, run_id)
    return data


def for_rank(definition: dict[str, Any], grants: bytes) -> dict[str, Any]:
    """A rank's copy of ``definition`` whose datasets are read through ``grants``."""
    return {**definition, "remoteData": {**definition["remoteData"], INLINE_KEY: grants}}


def _package_blobs(blobs: Path) -> OpenBlob:
    return lambda sha: open(blobs / check_sha256(sha, "shipped file"), "rb")


def prepare(ws: Workspace, run_id: str, definition: dict[str, Any]) -> dict[str, str]:
    """Lay out the run's inputs and outputs on the node; the same values as a local run."""
    folder = _mark_on_node(ws, run_id)
    data, open_blob = _locate(ws, definition.get("remoteData"))
    grants = parse(data)
    if time.time() > grants.expires:
        raise AmlError(
            "The run's read-only data URLs expired before it started: submit it again (or "
            "set AML_DATA_GRANT_SECONDS longer where you submit)."
        )
    values: dict[str, str] = {}
    modes, direct = [], {}
    for spec in definition.get("inputDatasets") or []:
        name, mode = spec["name"], spec["mode"]
        modes.append(f"{name}:{mode}")
        rel = spec.get("pathOnCompute")
        if rel is None:
            where = folder.dataset_input(name)
        else:
            where = folder.datasets / "inputs" / checked_relative_name(rel, "path_on_compute")
        item = grants.input(name)
        fetch_input(name, item.files, where, open_blob, read_only=mode == "mount")
        if mode == "direct":
            values[name] = item.dataset_id
            local = dict(item.definition, sources=[{"local": f"{where}/**"}])
            direct[item.dataset_id] = {
                "kind": item.kind,
                "definition": local,
                "name": item.dataset_name,
                "version": item.dataset_version,
                "files": [[f.name, f.size, f.sha256] for f in item.files],
            }
        else:
            values[name] = str(where)
    (folder.datasets / DIRECT_FILE).write_text(json.dumps(direct))
    return with_outputs(folder, definition, values, modes)  # as a local run's


def fetch_input(
    name: str, files: tuple[FileGrant, ...], where: Path, open_blob: OpenBlob, read_only: bool
) -> None:
    """Every file of input ``name`` into ``where``, each checked against its pinned size and
    sha256 (written under a temporary name, renamed only when it checks); ``FETCHERS`` at a
    time (many small files are bound by round trips, not bandwidth)."""
    where.mkdir(parents=True, exist_ok=True)
    if len(files) <= 1:
        for grant in files:
            _fetch_one(name, grant, where, open_blob, read_only)
        return
    with ThreadPoolExecutor(max_workers=min(FETCHERS, len(files))) as pool:
        futures = [pool.submit(_fetch_one, name, g, where, open_blob, read_only) for g in files]
        try:
            for future in futures:
                future.result()  # the first failure, in file order
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _fetch_one(
    name: str, grant: FileGrant, where: Path, open_blob: OpenBlob, read_only: bool
) -> None:
    dest = where / grant.name
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".aml-part")
    try:
        size, sha = _copy(grant, tmp, open_blob, name)
        if (size, sha) != (grant.size, grant.sha256):
            what = (
                f"{size} bytes, pinned {grant.size}"
                if size != grant.size
                else "its sha256 differs from the pinned one"
            )
            raise AmlError(
                f"Input dataset {name!r}: file {grant.name!r} is not the file the run was "
                f"submitted with ({what}): it changed in its store after submit. Restore "
                "it, or register the files as they are now (create_new_version=True) and "
                "submit again."
            )
        if read_only:
            os.chmod(tmp, 0o444)
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)


def _copy(grant: FileGrant, tmp: Path, open_blob: OpenBlob, name: str) -> tuple[int, str]:
    """Stream one file to ``tmp``; its size and sha256. Errors never repeat ``str(exc)``:
    some (http.client's InvalidURL ...) hold the signed URL."""
    digest, size = hashlib.sha256(), 0
    where = shown(grant.url) if grant.url else "the files shipped with the run"
    try:
        # http(s) only: grants.parse checked the scheme
        source: Any = (
            open_blob(grant.sha256)
            if grant.url is None
            else urllib.request.urlopen(grant.url, timeout=_TIMEOUT_S)
        )
    except urllib.error.HTTPError as exc:
        hint = " (the grant expired, or the file is gone)" if exc.code in (403, 404) else ""
        raise AmlError(
            f"Input dataset {name!r}: cannot read {grant.name!r} from {where}: "
            f"HTTP {exc.code}{hint}."
        ) from None
    except Exception as exc:
        cause = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        reason = getattr(cause, "strerror", None) or type(cause).__name__
        raise AmlError(
            f"Input dataset {name!r}: cannot read {grant.name!r} from {where}: {reason}."
        ) from None
    with source, open(tmp, "wb") as out:
        try:
            while piece := source.read(_PIECE):
                digest.update(piece)
                out.write(piece)
                size += len(piece)
        except Exception as exc:  # OSError, http.client's IncompleteRead ...
            raise AmlError(
                f"Input dataset {name!r}: reading {grant.name!r} broke off: {type(exc).__name__}."
            ) from None
    return size, digest.hexdigest()


def direct_dataset(ws: Workspace, dataset_id: str) -> Any | None:
    """In a node's script: the direct input ``dataset_id`` over its fetched files (None when
    this run has no such input here)."""
    run_id = os.environ.get("AML_RUN_ID")
    if not run_id:
        return None
    try:
        known = json.loads((ws.store.run_folder(run_id).datasets / DIRECT_FILE).read_text())
    except (OSError, ValueError):
        return None
    entry = known.get(dataset_id) if isinstance(known, dict) else None
    if not isinstance(entry, dict):
        return None
    from ..store.types import DatasetRecord
    from .file_dataset import FileDataset
    from .tabular_dataset import TabularDataset

    kind = "tabular" if entry.get("kind") == "tabular" else "file"
    pinned = [(str(n), int(s), str(h)) for n, s, h in entry.get("files") or []]
    record = DatasetRecord(  # the submitter's version: its id, name and number, as on local
        id=dataset_id,
        name=str(entry.get("name") or ""),
        version=int(entry.get("version") or 1),
        kind=kind,
        definition=entry["definition"],
        fingerprint="",
        file_count=len(pinned),
        size=sum(s for _, s, _ in pinned),
        description=None,
        created_utc=0.0,
    )
    cls = TabularDataset if kind == "tabular" else FileDataset
    # Pinned to the same bytes: reading it checks the fetched files again (hashed once).
    return cls(entry["definition"], workspace=ws, record=record, pinned=pinned)


def finish(ws: Workspace, run_id: str, definition: dict[str, Any], status: str) -> list[str]:
    """On the node at the run's end: a completed run's output files become run files (they
    go back with the others; the submitting side uploads them). Returns driver-log lines."""
    from ..status import RunStatus
    from ..tracking.finalize import harvest_folder

    folder = ws.store.run_folder(run_id)
    notes = []
    if status == RunStatus.COMPLETED:
        for spec in definition.get("outputDatasets") or []:
            local = folder.dataset_output(spec["name"])
            if local.is_dir():
                links = harvest_folder(ws, run_id, local, f"{OUTPUT_PREFIX}/{spec['name']}", True)
                if links:
                    notes.append(
                        f"Output dataset {spec['name']!r}: {len(links)} link(s) not kept "
                        "(links are never followed)."
                    )
    return notes


def restore_outputs(ws: Workspace, run_id: str, definition: dict[str, Any]) -> None:
    """On the submitting side: the output files a node sent back, into the run's output
    folders here, where the local code uploads them from."""
    folder = ws.store.run_folder(run_id)
    names = {spec["name"] for spec in definition.get("outputDatasets") or []}
    for row in ws.store.list_files(run_id):
        head, _, rest = row.name.partition("/")
        if head != "datasets" or not rest.startswith("outputs/"):
            continue
        output, _, rel = rest[len("outputs/") :].partition("/")
        if output in names and rel:
            ws.blobs.copy_to(row.sha256, folder.dataset_output(output) / rel)


__all__ = [
    "Grants",
    "direct_dataset",
    "fetch_input",
    "finish",
    "for_rank",
    "on_node",
    "prepare",
    "take_grants",
]

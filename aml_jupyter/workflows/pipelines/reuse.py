"""When a step's earlier run can stand in for it: the reuse key, and why a step was not reused.

The key covers everything that decides a step's result, by content: its type and script, its
snapshot (the hash of the files its ignore rules keep), its resolved arguments and params,
its environment's hash and, for each input, the content hash of the upstream output (not its
path) or the dataset version (pinned to its bytes at submit). A run is reused only when its key matches, it Completed, and each of its outputs is
still there as it was left (the same files, the same sizes). Anything unknown: not reused.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...status import RunStatus

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

#: Run properties a step run carries (v1 keeps its own under ``azureml.*`` too).
KEY = "azureml.pipeline.reuseKey"
PARTS = "azureml.pipeline.reuseParts"
STEP_NAME = "azureml.pipeline.stepName"
REUSED_FROM = "azureml.reusedrunid"
OUTPUT_PATH = "azureml.pipeline.output.path."
OUTPUT_HASH = "azureml.pipeline.output.hash."
OUTPUT_LISTING = "azureml.pipeline.output.listing."
STEP_RUN = "azureml.StepRun"

_CHUNK = 1 << 20


def reuse_parts(step: dict[str, Any], input_hashes: dict[str, str]) -> dict[str, str]:
    """What decides a step's result, each part as a short text (compared one by one by
    :func:`changes`)."""
    return {
        "type and script": f"{step['type']}:{step['script'] or step.get('command')}",
        "source files": step["snapshotId"],
        "arguments": _canon(step["argumentsForKey"]),
        "params": _canon(step["params"]),
        "environment": step["environmentHash"],
        "outputs": _canon(sorted(step["outputs"])),
        **{f"input {name}": digest for name, digest in sorted(input_hashes.items())},
        # a dataset's version id: its bytes as they were when the pipeline was submitted
        **{f"dataset {n}": d for n, d in sorted(step.get("datasetInputs", {}).items())},
    }


def reuse_key(parts: dict[str, str]) -> str:
    return hashlib.sha256(_canon(parts).encode()).hexdigest()


def _canon(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _listing(folder: Path) -> list[tuple[str, int, int, str]]:
    """Every file under ``folder``: relative name, size, modification time, link target."""
    out: list[tuple[str, int, int, str]] = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            full = Path(root, name)
            rel = full.relative_to(folder).as_posix()
            if full.is_symlink():
                out.append((rel, -1, 0, os.readlink(full)))
                continue
            st = full.stat()
            out.append((rel, st.st_size, st.st_mtime_ns, ""))
    return out


def output_hash(folder: Path) -> tuple[str, str]:
    """The content hash of an output folder (every file's relative name and bytes), and the
    hash of its listing (names, sizes, modification times: the cheap check that it is still
    as it was; a file touched since, even with the same bytes, makes it 'unknown')."""
    content = hashlib.sha256()
    listing = _listing(folder) if folder.is_dir() else []
    for rel, size, _, link in listing:
        content.update(f"{rel}\0{size}\0{link}\0".encode())
        if size >= 0:
            with open(folder / rel, "rb") as f:
                while chunk := f.read(_CHUNK):
                    content.update(chunk)
    return content.hexdigest(), hashlib.sha256(_canon(listing).encode()).hexdigest()


def still_there(properties: dict[str, str], outputs: list[str]) -> bool:
    """Whether each output of a step run is where it was, with the same files."""
    for name in outputs:
        path, listed = properties.get(OUTPUT_PATH + name), properties.get(OUTPUT_LISTING + name)
        if not path or not listed or not Path(path).is_dir():
            return False
        if hashlib.sha256(_canon(_listing(Path(path))).encode()).hexdigest() != listed:
            return False
    return True


def find_reusable(ws: Workspace, key: str, outputs: list[str]) -> tuple[str, dict[str, str]] | None:
    """The newest Completed step run with ``key`` whose outputs are all still there: its id
    and properties."""
    records = ws.store.list_runs(
        properties={KEY: key},
        status=RunStatus.COMPLETED,
        run_type=STEP_RUN,
        include_children=True,
        limit=20,
    )
    for record in records:
        props = ws.store.get_properties(record.id)
        if all(OUTPUT_HASH + n in props for n in outputs) and still_there(props, outputs):
            return record.id, props
    return None


def previous_parts(
    ws: Workspace, step_name: str, before: float
) -> tuple[str, dict[str, str]] | None:
    """The most recent comparable step run (a run of a step of that name, created before
    ``before``): its id and reuse parts."""
    records = ws.store.list_runs(
        properties={STEP_NAME: step_name},
        run_type=STEP_RUN,
        include_children=True,
        limit=50,
    )
    for record in records:
        if record.created_utc >= before:
            continue
        parts = ws.store.get_properties(record.id).get(PARTS)
        if parts:
            return record.id, json.loads(parts)
    return None


def changes(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The names of the parts that differ (an input added or removed counts)."""
    return [name for name in sorted({*old, *new}) if old.get(name) != new.get(name)]

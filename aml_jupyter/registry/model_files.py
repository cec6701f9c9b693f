"""A model's files: the manifest (``[relative path, sha256, size]`` per file, itself a blob)
made from a local file or folder or from a run's stored files, the registry row that records a
new version, and writing the files back out of the blob store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..paths import checked_relative_name
from ..store.run_folder import USER_LOGS

if TYPE_CHECKING:
    from ..store.blobs import BlobStore
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace

#: One manifest entry: ``[relative path, sha256, size]``.
Manifest = list[list[Any]]


def local_manifest(blobs: BlobStore, path: Path, model_path: object) -> Manifest:
    """Put a local file or folder's files into the blob store; their manifest."""
    entries: Manifest = []
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            sha, size = blobs.put_file(file)
            entries.append([file.relative_to(path).as_posix(), sha, size])
        if not entries:
            raise AmlError(f"The folder {str(model_path)!r} holds no files to register.")
    else:
        sha, size = blobs.put_file(path)
        entries.append([path.name, sha, size])
    return entries


def run_manifest(run: Run, clean: str) -> tuple[Manifest, bool]:
    """The manifest of the file or folder ``clean`` among the run's stored files (no copy),
    and whether it is a folder."""
    rows = run._ws.store.list_files(run.id)
    exact = [r for r in rows if r.name == clean]
    inside = [r for r in rows if r.name.startswith(clean + "/")]
    if exact:
        entries: Manifest = [[clean.rsplit("/", 1)[-1], exact[0].sha256, exact[0].size]]
    elif inside:
        entries = [[r.name[len(clean) + 1 :], r.sha256, r.size] for r in inside]
    else:
        names = [r.name for r in rows if not r.name.startswith(USER_LOGS + "/")]
        raise AmlError(
            f"Run {run.id} has no file or folder {clean!r}"
            + (f"; its files: {', '.join(names[:10])}." if names else " (it has no files yet).")
            + " Register a path the run wrote under ./outputs, e.g. 'outputs/model.pkl'."
        )
    return entries, bool(inside) and not exact


def add_version(
    workspace: Workspace,
    name: str,
    entries: Manifest,
    path_name: str,
    is_folder: bool,
    tags: dict[str, Any] | None,
    properties: dict[str, Any] | None,
    description: str | None,
    framework: str | None,
    framework_version: str | None,
    run: Run | None,
) -> int:
    """Store the manifest and record the next version of ``name`` (with the run's lineage);
    its version number."""
    for label, value in (("tags", tags), ("properties", properties)):
        if value is not None and not isinstance(value, dict):
            raise AmlError(f"{label} must be a dict, got {type(value).__name__}.")
    manifest, _ = workspace.blobs.put_bytes(json.dumps(entries, sort_keys=True).encode())
    props = dict(properties or {})
    experiment = None
    if run is not None:
        experiment = run.experiment.name
        commit = run.get_properties().get("azureml.git.commit")
        if commit:
            props.setdefault("azureml.git.commit", commit)
    fields: dict[str, Any] = {
        "manifest": manifest,
        "path": path_name,
        "is_folder": is_folder,
        "size": sum(int(e[2]) for e in entries),
        "file_count": len(entries),
        "description": description,
        "framework": framework,
        "framework_version": framework_version,
        "run_id": run.id if run is not None else None,
        "experiment": experiment,
    }
    version = workspace.store.add_model(name, **fields, tags=tags or {}, properties=props)
    return version


def write_files(blobs: BlobStore, entries: Manifest, is_folder: bool, target: Path) -> None:
    """Copy a model's files out of the blob store to ``target`` (its file, or its folder)."""
    if not is_folder:
        ((_, sha, _size),) = entries
        target.parent.mkdir(parents=True, exist_ok=True)
        blobs.copy_to(sha, target)
        return
    for rel, sha, _size in entries:
        dest = target / checked_relative_name(rel, "model file")
        dest.parent.mkdir(parents=True, exist_ok=True)
        blobs.copy_to(sha, dest)

"""Datasets in a run, on the machine that runs it: inputs laid out before the script starts,
outputs uploaded (and registered) when it ends. Compute and tracking sit below data and reach
these through :mod:`aml_jupyter.tracking.plugins` (``run_data.prepare``, ``run_data.finish``).

What the script gets is v1's contract: ``AZUREML_DATASET_ENVIRONMENT_VARS="train:mount,..."``
with the variable ``train`` holding a local path (mount, download) or the dataset's id
(direct); ``AZUREML_DATASET_FILE_OUTPUTS="out1;out2"`` with ``out1`` the folder to write.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .output_config import resolve_path
from .run_contract import with_outputs

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace


def prepare(ws: Workspace, run_id: str, definition: dict[str, Any]) -> dict[str, str]:
    """Lay out the run's inputs and outputs; ``{name: value}`` for each (a path, or a direct
    input's dataset id), plus v1's two list variables. In a Docker run a mount is a download
    (the container sees the run's folder, not the files links would point at). Raises :class:`AmlError` naming the
    input that could not be read (changed files, an unreachable store)."""
    from .abstract_dataset import AbstractDataset

    if definition.get("remoteData"):  # on a remote node: read through the run's grants
        from . import node_data

        return node_data.prepare(ws, run_id, definition)
    folder = ws.store.run_folder(run_id)
    environment = definition.get("environment")
    # A container sees the workspace's folder, not the files a mount's links point at.
    in_container = isinstance(environment, dict) and bool(
        (environment.get("docker") or {}).get("enabled")
    )
    values: dict[str, str] = {}
    modes = []
    for spec in definition.get("inputDatasets") or []:
        name, mode = spec["name"], spec["mode"]
        modes.append(f"{name}:{mode}")
        if mode == "direct":
            values[name] = spec["datasetId"]
            continue
        dataset = AbstractDataset.get_by_id(ws, spec["datasetId"])
        rel = spec.get("pathOnCompute")
        where = folder.dataset_input(name) if rel is None else folder.datasets / "inputs" / rel
        try:
            if mode == "mount" and not in_container:
                context = dataset.mount(where)
                context.start()
                values[name] = str(context.mount_point)
            else:
                dataset.download(where, overwrite=True)
                values[name] = str(where)
        except AmlError as exc:
            raise AmlError(f"Input dataset {name!r} ({mode}): {exc}") from None
    return with_outputs(folder, definition, values, modes)


def finish(ws: Workspace, run_id: str, definition: dict[str, Any], status: str) -> list[str]:
    """At the run's end: upload (and register) its outputs if it completed, record them as
    its output datasets, then remove the run's dataset folders (mounts are links: the files
    they point at stay). Returns lines for the driver log; raises :class:`AmlError` when an
    output could not be kept (the run then ends Failed with it)."""
    from ..status import RunStatus

    folder = ws.store.run_folder(run_id)
    notes: list[str] = []
    outputs = definition.get("outputDatasets") or []
    if definition.get("remoteData"):
        from . import node_data

        if node_data.on_node(ws, run_id):  # the node sends its outputs back as run files
            try:
                return node_data.finish(ws, run_id, definition, status)
            finally:
                _remove_links_then_folder(folder.datasets)
        if status == RunStatus.COMPLETED:  # the submitting side: what the node sent back
            node_data.restore_outputs(ws, run_id, definition)
    try:
        if outputs and status != RunStatus.COMPLETED:
            names = ", ".join(o["name"] for o in outputs)
            notes.append(
                f"The run ended {status}: its output datasets ({names}) were not uploaded "
                "(outputs are uploaded only when a run completes, as in Azure ML v1)."
            )
        elif outputs:
            problems = []
            for spec in outputs:
                try:
                    notes.append(
                        _keep_output(ws, run_id, spec, folder.dataset_output(spec["name"]))
                    )
                except AmlError as exc:
                    problems.append(f"output {spec['name']!r}: {exc}")
            if problems:
                raise AmlError("; ".join(problems))
    finally:
        _remove_links_then_folder(folder.datasets)
    return notes


def _keep_output(ws: Workspace, run_id: str, spec: dict[str, Any], local: Path) -> str:
    from .dataset_factory import Dataset
    from .datastore import get_datastore

    name = spec["name"]
    files = _regular_files(local)
    if not files:
        return f"Output dataset {name!r}: the script wrote no files; nothing uploaded."
    datastore = get_datastore(ws, spec["datastore"])
    target = resolve_path(spec["path"], run_id, name)
    if not spec.get("overwrite"):
        fs, base = datastore.filesystem(), datastore.fs_path(target)
        there = [p for p in files if fs.exists(f"{base}/{p.relative_to(local).as_posix()}")]
        if there:
            raise AmlError(
                f"{len(there)} file(s) exist already at {datastore.name}/{target}, e.g. "
                f"{there[0].relative_to(local).as_posix()}; use as_upload(overwrite=True) or a "
                "destination with {run-id} in it."
            )
    datastore.upload_files(
        [str(p) for p in files],
        relative_root=str(local),
        target_path=target,
        overwrite=True,
        show_progress=False,
    )
    dataset: Any = Dataset.File.from_files([(datastore, f"{target}/**")])
    register = spec.get("register")
    if register:
        dataset = dataset.register(
            ws,
            register["name"],
            description=register.get("description"),
            tags=register.get("tags") or None,
            create_new_version=True,
        )
        what = f"registered as {dataset.name!r} version {dataset.version}"
    else:
        dataset = dataset._saved(ws)
        what = f"saved as dataset {dataset.id}"
    ws.store.add_run_datasets(run_id, "output", {name: str(dataset.id)})
    return f"Output dataset {name!r}: {len(files)} file(s) uploaded to {datastore.name}/{target}, {what}."


def _regular_files(local: Path) -> list[Path]:
    """The files the script wrote: regular files only (a link it planted is never followed,
    so nothing outside the folder is uploaded)."""
    found = []
    for dirpath, _, filenames in os.walk(local):  # os.walk never enters a linked folder
        for entry in sorted(filenames):
            path = Path(dirpath) / entry
            if path.is_file() and not path.is_symlink():
                found.append(path)
    return found


def _remove_links_then_folder(root: Path) -> None:
    """Remove the run's dataset folders without ever following a link out of them."""
    if not root.exists() and not root.is_symlink():
        return
    if root.is_symlink():
        root.unlink()
        return
    for dirpath, dirnames, filenames in os.walk(root):
        for entry in dirnames + filenames:
            path = Path(dirpath) / entry
            if path.is_symlink():
                path.unlink()
    shutil.rmtree(root, ignore_errors=True)


def input_dataset(ws: Workspace, dataset_id: str) -> Any:
    """The dataset a run's direct input names (``run.input_datasets[name]``); in a script on
    a remote node, the dataset over the files fetched for it there."""
    from .abstract_dataset import AbstractDataset

    try:
        return AbstractDataset.get_by_id(ws, dataset_id)
    except AmlError:
        from .node_data import direct_dataset

        found = direct_dataset(ws, dataset_id)
        if found is None:
            raise
        return found

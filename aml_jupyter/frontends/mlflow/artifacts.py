"""The ``aml`` MLflow artifact repository: a run's artifacts are its files under ``outputs/``.

Writes go through :meth:`aml_jupyter.Run.save_output`: from the run's own script they land in
its live ``./outputs`` (brought back by every target as ``./outputs`` is, and seen live by
``run.get_file_names()``); from elsewhere (a notebook) they are stored at once. Reads see
both the stored and the live files.
"""

from __future__ import annotations

import os
import posixpath
import shutil
from pathlib import Path
from typing import Any

from mlflow.entities import FileInfo
from mlflow.store.artifact.artifact_repo import ArtifactRepository

from ...errors import AmlError
from ...paths import checked_relative_name
from ...tracking.experiment import Experiment
from ...tracking.run import Run
from .address import ARTIFACT_ROOT, AmlMlflowError, not_found, parse_artifact_uri


class AmlArtifactRepository(ArtifactRepository):
    """Artifacts at ``aml://<workspace>/runs/<run id>/outputs[/<path>]``."""

    def __init__(self, artifact_uri: str, *args: Any, **kwargs: Any) -> None:
        super().__init__(artifact_uri, *args, **kwargs)
        ws, run_id, self._prefix = parse_artifact_uri(artifact_uri)
        if self._prefix != ARTIFACT_ROOT and not self._prefix.startswith(ARTIFACT_ROOT + "/"):
            raise AmlMlflowError(f"Artifact URI {artifact_uri!r}: artifacts lie under outputs/.")
        try:
            record = ws.store.get_run(run_id)
        except AmlError:
            raise not_found(f"Artifact URI {artifact_uri!r}: no run {run_id!r}.") from None
        self._run = Run(Experiment(ws, record.experiment, False), run_id)

    def _name(self, *parts: str | None) -> str:
        """The run file name of an artifact path (checked: never outside ``outputs/``)."""
        joined = posixpath.join(self._prefix, *(p for p in parts if p))
        try:
            return checked_relative_name(joined, "artifact path")
        except AmlError as exc:
            raise AmlMlflowError(str(exc)) from None

    def _save(self, local_file: str | os.PathLike[str], name: str) -> None:
        relative = name[len(ARTIFACT_ROOT) + 1 :]
        try:
            self._run.save_output(relative, local_file)
        except AmlError as exc:
            raise AmlMlflowError(str(exc)) from None

    def log_artifact(self, local_file: str, artifact_path: str | None = None) -> None:
        self._save(local_file, self._name(artifact_path, os.path.basename(local_file)))

    def log_artifacts(self, local_dir: str, artifact_path: str | None = None) -> None:
        root = Path(local_dir)
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            self._save(path, self._name(artifact_path, path.relative_to(root).as_posix()))

    def list_artifacts(self, path: str | None = None) -> list[FileInfo]:
        """The files and folders right under ``path``, paths relative to this repository."""
        base = self._name(path)
        sizes: dict[str, int] = {}
        for info in self._run.get_file_info():
            name = str(info["name"])
            if name.startswith(base + "/"):
                sizes[name[len(base) + 1 :]] = int(info["size"])  # type: ignore[call-overload]
        entries: dict[str, FileInfo] = {}
        below = f"{path.strip('/')}/" if path and path.strip("/") else ""
        for rest, size in sorted(sizes.items()):
            head, sep, _ = rest.partition("/")
            if sep:
                entries.setdefault(head, FileInfo(below + head, True, None))
            else:
                entries[head] = FileInfo(below + head, False, size)
        return list(entries.values())

    def _download_file(self, remote_file_path: str, local_path: str) -> None:
        name = self._name(remote_file_path)
        try:
            with self._run.open_file(name) as src, open(local_path, "wb") as out:
                shutil.copyfileobj(src, out)
        except AmlError as exc:
            raise not_found(f"No artifact {remote_file_path!r}: {exc}") from None

    def delete_artifacts(self, artifact_path: str | None = None) -> None:
        raise AmlMlflowError(
            "aml: a run's files are kept as they are; artifacts cannot be deleted."
        )

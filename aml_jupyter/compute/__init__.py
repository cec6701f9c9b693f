"""Compute targets: where a submitted run executes. ``local`` is always there."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from ..config import ScriptRunConfig
    from ..experiment import Experiment
    from ..run import Run
    from ..workspace import Workspace


class ComputeTarget:
    """A named place to run: ``ComputeTarget(ws, 'local')`` or ``ws.compute_targets['local']``."""

    def __init__(self, workspace: Workspace, name: str) -> None:
        rows = {r["name"]: r for r in workspace.records.compute_targets()}
        if name not in rows:
            raise AmlError(
                f"Unknown compute target {name!r}. Known targets: {', '.join(sorted(rows))}."
            )
        self.workspace = workspace
        self.name = name
        self.type: str = rows[name]["type"]
        self.config: dict[str, Any] = json.loads(rows[name]["config"])

    @classmethod
    def _from_record(cls, workspace: Workspace, row: Any) -> ComputeTarget:
        return cls(workspace, row["name"])

    @staticmethod
    def list(workspace: Workspace) -> list[ComputeTarget]:
        """Every compute target of the workspace."""
        return list(workspace.compute_targets.values())

    def get_status(self) -> str:
        """``Succeeded``: the local target is always ready."""
        return "Succeeded"

    def submit(
        self, experiment: Experiment, config: ScriptRunConfig, tags: dict[str, Any] | None = None
    ) -> Run:
        """Start ``config`` as a new run of ``experiment`` on this target."""
        if self.type == "local":
            from .local import submit_local

            return submit_local(experiment, config, self.name, tags)
        raise AmlError(
            f"Compute target {self.name!r} has type {self.type!r}, which this version cannot run."
        )

    def __repr__(self) -> str:
        return f"ComputeTarget(name={self.name!r}, type={self.type!r})"


__all__ = ["ComputeTarget"]

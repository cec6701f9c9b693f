"""A pipeline's runs, with v1's names: the ``PipelineRun`` parent and one ``StepRun`` child per
step (``azureml.StepRun``; ``azureml.ReusedStepRun`` for a step whose earlier run stood in)."""

from __future__ import annotations

import builtins
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from ...errors import ActivityFailedException, AmlError
from ...status import RunStatus
from ...tracking import targets
from ...tracking.run import Run
from . import reuse
from .reused_step import REUSED_STEP_RUN

PIPELINE_RUN = "azureml.PipelineRun"
STEP_RUN = reuse.STEP_RUN
STEP_TYPES = (STEP_RUN, REUSED_STEP_RUN)


class PortDataReference:
    """One output of a step run (v1's ``PortDataReference``): a folder on a datastore."""

    def __init__(self, name: str, path: str, path_on_datastore: str) -> None:
        self.name = name
        self.path = Path(path)
        self.path_on_datastore = path_on_datastore

    def download(
        self, local_path: str, overwrite: bool | None = None, show_progress: bool | None = None
    ) -> str:
        """Copy the output into ``local_path/<path on datastore>`` (as v1); returns where."""
        if not self.path.is_dir():
            raise AmlError(f"Output {self.name!r} is gone from {self.path}; run the step again.")
        target = Path(local_path) / self.path_on_datastore
        if target.exists() and not overwrite:
            raise AmlError(f"{target} exists; pass overwrite=True to replace it.")
        shutil.rmtree(target, ignore_errors=True)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(self.path, target, symlinks=True)
        if show_progress:
            print(f"Downloaded {self.name} to {target}")
        return str(target)

    def __repr__(self) -> str:
        return f"PortDataReference(name={self.name!r}, path={str(self.path)!r})"


class StepRun(Run):
    """The run of one step. A reused one (``run.type == 'azureml.ReusedStepRun'``) links the
    run whose outputs it reuses (:attr:`reused_run_id`)."""

    @property
    def name(self) -> str:
        return self._record.display_name or self._id

    @property
    def is_reused(self) -> bool:
        return self._record.run_type == REUSED_STEP_RUN

    @property
    def reused_run_id(self) -> str | None:
        return self.get_properties().get(reuse.REUSED_FROM)

    def get_job_log(self) -> str:
        return self.read_log()

    def get_stdout_log(self) -> str:
        return self.read_log()

    def get_outputs(self) -> dict[str, PortDataReference]:
        """The step's outputs, by name."""
        props = self.get_properties()
        names = [k[len(reuse.OUTPUT_PATH) :] for k in props if k.startswith(reuse.OUTPUT_PATH)]
        return {n: self.get_output_data(n) for n in sorted(names)}

    def get_output_data(self, name: str) -> PortDataReference:
        """Output ``name`` of the step (reused: the outputs of the run it reuses)."""
        props = self.get_properties()
        path = props.get(reuse.OUTPUT_PATH + name)
        if path is None:
            known = [k[len(reuse.OUTPUT_PATH) :] for k in props if k.startswith(reuse.OUTPUT_PATH)]
            raise AmlError(
                f"Step {self.name!r} has no output {name!r}; its outputs: "
                f"{', '.join(sorted(known)) or 'none'}."
            )
        owner = props.get(reuse.REUSED_FROM) or self._id
        return PortDataReference(name, path, f"azureml/{owner}/{name}")

    def why_not_reused(self) -> str:
        """Why this step ran instead of reusing an earlier run: what changed against the most
        recent comparable run of a step of this name (or that it was reused, and from whom)."""
        props = self.get_properties()
        if self.is_reused:
            return f"It was reused: the outputs are those of run {props.get(reuse.REUSED_FROM)}."
        if props.get("azureml.pipeline.reuseDecision"):
            decided = props["azureml.pipeline.reuseDecision"]
            if decided != "changed":
                return decided
        parts = json.loads(props.get(reuse.PARTS) or "{}")
        found = reuse.previous_parts(self._ws, self.name, self._record.created_utc)
        if found is None:
            return f"No earlier run of a step named {self.name!r}: it ran for the first time."
        run_id, old = found
        changed = reuse.changes(old, parts)
        if not changed:
            return (
                f"Nothing changed against run {run_id}, but its outputs were gone or it had "
                "not completed, so it could not be reused."
            )
        return f"Against run {run_id}, these changed: {', '.join(changed)}."


class PipelineRun(Run):
    """The run of a whole pipeline: its steps are its children, run by a detached
    orchestrator that goes on when the notebook closes."""

    def get_steps(self) -> builtins.list[StepRun]:
        """The step runs, in the order they started."""
        records = self._ws.store.list_runs(parent_id=self._id, descending=False)
        records = targets.check_active_runs(self._ws, records)
        return [StepRun._of(self._experiment, r) for r in records if r.run_type in STEP_TYPES]  # type: ignore[misc]

    def find_step_run(self, name: str) -> builtins.list[StepRun]:
        """The runs of the step called ``name`` (a list, as in v1)."""
        return [s for s in self.get_steps() if s.name == name]

    def cancel(self) -> None:
        """Stop the pipeline: every running step is canceled, no other starts."""
        record = self._ws.store.get_run(self._id)
        if record.status not in RunStatus.TERMINAL:
            targets.cancel(self._ws, record)
        self.refresh()

    def wait_for_completion(  # type: ignore[override]
        self,
        show_output: bool = True,
        timeout_seconds: float | None = None,
        raise_on_error: bool = True,
    ) -> str:
        """Block until the pipeline ends; ``show_output=True`` prints each step's log as it
        runs, with v1's headings. Returns the final status; a Failed or Canceled pipeline
        raises :class:`ActivityFailedException` when ``raise_on_error``."""
        out = sys.stdout if show_output else None
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        if out:
            out.write(f"PipelineRunId: {self._id}\nPipelineRun Status: {self.get_status()}\n\n")
        shown: set[str] = set()
        while True:
            status = self.get_status()
            for step in self.get_steps():
                if step.id in shown:
                    continue
                shown.add(step.id)
                if out:
                    _show_step(step, out, deadline)
            if status in RunStatus.TERMINAL and len(shown) == len(self.get_steps()):
                break
            if deadline is not None and time.monotonic() > deadline:
                raise AmlError(
                    f"Pipeline run {self._id} is still {status} after {timeout_seconds} s."
                )
            time.sleep(0.05)
        if out:
            out.write(
                f"\nPipelineRun Execution Summary\n{'=' * 29}\nPipelineRun Status: {status}\n"
            )
            out.flush()
        if raise_on_error and status in (RunStatus.FAILED, RunStatus.CANCELED):
            error = (self.get_details().get("error") or {}).get("error", {})
            raise ActivityFailedException(
                f"Pipeline run {self._id} ended {status}: {error.get('message', status)}"
            )
        return status


def _show_step(step: StepRun, out: Any, deadline: float | None) -> None:
    out.write(f"StepRunId: {step.id}\nStepRun( {step.name} ) Status: {step.get_status()}\n")
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    status = step.stream_log(out, left)
    out.write(
        f"\nStepRun({step.name}) Execution Summary\n{'=' * (27 + len(step.name))}\n"
        f"StepRun( {step.name} ) Status: {status}\n\n"
    )
    out.flush()

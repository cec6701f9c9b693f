"""Deciding, for one step about to start, whether an earlier run stands in for it, and
recording the ``azureml.ReusedStepRun`` that says so (its outputs are the earlier run's).

Both the submitting process (for the steps whose inputs are already known: a fully reused
pipeline completes without starting any process) and the orchestrator use it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NamedTuple

from ...status import RunStatus
from . import reuse

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

REUSED_STEP_RUN = "azureml.ReusedStepRun"


class Decision(NamedTuple):
    key: str
    parts: dict[str, str]
    #: Why reuse was not even looked for (``allow_reuse=False``...), or None.
    switched_off: str | None
    #: The run that stands in (its id and properties), or None: the step runs.
    found: tuple[str, dict[str, str]] | None


def decide(
    ws: Workspace, step: dict[str, Any], input_hashes: dict[str, str], regenerate: bool
) -> Decision:
    """Whether ``step`` (its spec) can be reused, given its inputs' content hashes."""
    parts = reuse.reuse_parts(step, input_hashes)
    key = reuse.reuse_key(parts)
    off = "regenerate_outputs=True" if regenerate else None
    off = off or (None if step["allowReuse"] else "allow_reuse=False")
    found = None if off else reuse.find_reusable(ws, key, step["outputs"])
    return Decision(key, parts, off, found)


def record_reused(
    ws: Workspace, experiment: str, parent_id: str, step: dict[str, Any], decision: Decision
) -> tuple[str, dict[str, tuple[str, str]]]:
    """Record a Completed ``azureml.ReusedStepRun`` child of ``parent_id`` linking the run
    that stands in; returns its id and the outputs (name -> folder, content hash)."""
    assert decision.found is not None
    source_id, found = decision.found
    name = step["name"]
    store = ws.store
    run_id = store.create_run(
        experiment,
        REUSED_STEP_RUN,
        RunStatus.RUNNING,
        parent_id=parent_id,
        target="local",
        display_name=name,
        definition={"script": step["script"], "reusedRunId": source_id},
    )
    props = {
        reuse.KEY: decision.key,
        reuse.PARTS: json.dumps(decision.parts, sort_keys=True),
        reuse.STEP_NAME: name,
        reuse.REUSED_FROM: source_id,
    }
    outputs: dict[str, tuple[str, str]] = {}
    for out in step["outputs"]:
        for prefix in (reuse.OUTPUT_PATH, reuse.OUTPUT_HASH, reuse.OUTPUT_LISTING):
            props[prefix + out] = found[prefix + out]
        outputs[out] = (found[reuse.OUTPUT_PATH + out], found[reuse.OUTPUT_HASH + out])
    store.add_properties(run_id, props)
    log = store.run_folder(run_id).driver_log
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(
        f"Step {name}: This step is eligible to reuse a previous run's output\n"
        f"Reused: the outputs of run {source_id} (nothing that decides them changed)\n",
        encoding="utf-8",
    )
    from ...tracking.finalize import finalize_run

    finalize_run(ws, run_id, RunStatus.COMPLETED)
    return run_id, outputs


def reused_before(ws: Workspace, parent_id: str) -> dict[str, tuple[str, dict[str, str]]]:
    """The steps of ``parent_id`` already recorded as reused (by its submitter): step name
    -> (run id, properties)."""
    out: dict[str, tuple[str, dict[str, str]]] = {}
    for record in ws.store.list_runs(parent_id=parent_id, run_type=REUSED_STEP_RUN):
        props = ws.store.get_properties(record.id)
        out[props[reuse.STEP_NAME]] = (record.id, props)
    return out

"""``Pipeline``: steps submitted together as one ``PipelineRun`` (v1's names and signature).

``submit`` checks the whole graph first (every problem at once, nothing started), snapshots
each step's source folder (the code as it is now: a step runs this code even if the files
change while the pipeline runs) and records the parent run. Steps whose inputs are known
already and that can be reused are recorded as reused right here (a pipeline where nothing
changed completes without starting a process); the rest goes to a detached orchestrator
(:mod:`.orchestrator`), and submit returns at once.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...compute.local.owner import claim_owner
from ...compute.local.target import hand_off, start_supervisor
from ...errors import AmlError
from ...snapshot.snapshot import take_snapshot
from ...status import RunStatus
from ...tracking import targets
from ...tracking.experiment import Experiment
from ...tracking.submitting import experiment_method
from . import graph
from .data import PipelineData, PipelineParameter
from .reused_step import decide, record_reused
from .runs import PIPELINE_RUN, PipelineRun
from .steps import CommandStep, PipelineStep, PythonScriptStep

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

ORCHESTRATOR = "aml_jupyter.workflows.pipelines.orchestrator"


def submit_pipeline(
    pipeline: Pipeline,
    workspace: Workspace,
    experiment_name: str,
    *,
    tags: dict[str, Any] | None = None,
    _parent_run_id: str | None = None,
    pipeline_parameters: dict[str, Any] | None = None,
    regenerate_outputs: bool = False,
    continue_on_step_failure: bool = False,
    **_: Any,
) -> PipelineRun:
    """How ``Experiment.submit`` runs a :class:`Pipeline`."""
    return pipeline.submit(
        experiment_name,
        pipeline_parameters=pipeline_parameters,
        regenerate_outputs=regenerate_outputs,
        continue_on_step_failure=continue_on_step_failure,
        tags=tags,
        _workspace=workspace,
    )


@experiment_method(submit_function=submit_pipeline)
class Pipeline:
    """Steps that run together, each once the steps it waits for have completed.

    ``steps`` may be only the last ones: the steps upstream of them (through their
    PipelineData and ``run_after``) are found. ``default_source_directory`` is where a step
    without ``source_directory`` finds its script (v1's default: the current folder).
    """

    def __init__(
        self,
        workspace: Workspace,
        steps: Any,
        description: str | None = None,
        default_datastore: Any = None,
        default_source_directory: str | os.PathLike[str] | None = None,
        resolve_closure: bool = True,
        **kwargs: Any,
    ) -> None:
        self._workspace = workspace
        self._steps = graph.collect_steps(steps)
        self.description = description
        self._default_datastore = default_datastore
        self._default_source = os.fspath(default_source_directory or os.getcwd())

    @property
    def steps(self) -> list[PipelineStep]:
        return list(self._steps)

    def validate(self, pipeline_parameters: dict[str, Any] | None = None) -> list[str]:
        """Check the whole pipeline: cycles, an input no step produces, a missing script, a
        bad parameter. Raises one :class:`AmlError` listing every problem; [] when fine."""
        if pipeline_parameters is not None and not isinstance(pipeline_parameters, dict):
            raise AmlError("pipeline_parameters must be a dict of {name: value}.")
        found = graph.problems(self._steps, self._default_source, pipeline_parameters)
        if self._datastore_folder() is None:
            found.append(
                "the datastore for PipelineData must be a local one in this version (the "
                "workspace's default, workspaceblobstore, is)"
            )
        if found:
            listed = "\n".join(f"  - {p}" for p in found)
            raise AmlError(f"The pipeline cannot run ({len(found)} problems):\n{listed}")
        return []

    def _datastore_folder(self) -> str | None:
        store = self._default_datastore or self._workspace.get_default_datastore()
        if getattr(store, "datastore_type", None) != "Local":
            return None
        return str(store.fs_path())

    def submit(
        self,
        experiment_name: str,
        pipeline_parameters: dict[str, Any] | None = None,
        continue_on_step_failure: bool = False,
        regenerate_outputs: bool = False,
        parent_run_id: str | None = None,
        credential_passthrough: Any = None,
        tags: dict[str, Any] | None = None,
        _workspace: Workspace | None = None,
        **kwargs: Any,
    ) -> PipelineRun:
        """Start the pipeline as a new run of ``experiment_name``; returns its
        :class:`PipelineRun` at once (the pipeline goes on if this process ends)."""
        ws = _workspace or self._workspace
        self.validate(pipeline_parameters)
        experiment = Experiment(ws, experiment_name)
        spec = self._spec(ws, pipeline_parameters or {})
        spec.update(
            regenerateOutputs=bool(regenerate_outputs),
            continueOnStepFailure=bool(continue_on_step_failure),
        )
        store = ws.store
        run_id = store.create_run(
            experiment.name,
            PIPELINE_RUN,
            RunStatus.NOT_STARTED,
            parent_id=parent_run_id,
            target="local",
            definition={"pipeline": spec},
            display_name=self.description,
        )
        owner = None
        try:
            store.add_properties(run_id, {"azureml.runsource": "azureml.PipelineRun"})
            if tags:
                store.set_tags(run_id, tags)
            store.set_status(run_id, RunStatus.QUEUED)  # a cancel now waits for the owner
            targets.claim_this_process(ws, run_id)  # it ends Failed if we die right here
            reused = reuse_known_steps(ws, experiment.name, run_id, spec)
            for step in spec["steps"]:
                said = (
                    "This step is eligible to reuse a previous run's output"
                    if step["name"] in reused
                    else "This step will run and generate new outputs"
                )
                print(f"Created step {step['name']} [snapshot {step['snapshotId'][:12]}] ({said})")
            if len(reused) == len(spec["steps"]):
                from ...tracking.finalize import finalize_run

                store.set_status(run_id, RunStatus.RUNNING)
                finalize_run(ws, run_id, RunStatus.COMPLETED)
            else:
                owner = start_supervisor(ws.folder, module=ORCHESTRATOR)
                claim_owner(ws, run_id, owner.pid)
        except BaseException as exc:
            if owner is not None:
                hand_off(owner, None)
            store.set_status(
                run_id, RunStatus.FAILED, error={"code": "SubmitFailed", "message": str(exc)}
            )
            raise
        if owner is not None:
            hand_off(owner, run_id)
        print(f"Submitted PipelineRun {run_id}")
        return PipelineRun(experiment, run_id)

    def _spec(self, ws: Workspace, given: dict[str, Any]) -> dict[str, Any]:
        declared = graph.parameters(self._steps)
        values = {n: given.get(n, p.default_value) for n, p in declared.items()}
        snapshots: dict[str, str] = {}
        steps = []
        for step in graph.run_order(self._steps):
            assert isinstance(step, (PythonScriptStep, CommandStep))  # what validate() lets by
            source = str(Path(step.source_directory or self._default_source).resolve())
            if source not in snapshots:
                snapshots[source] = take_snapshot(ws.store, source).id
            steps.append(_step_spec(ws, step, source, snapshots[source], values))
        return {
            "steps": steps,
            "parameters": values,
            "datastoreFolder": self._datastore_folder(),
            "description": self.description,
        }


def reuse_known_steps(
    ws: Workspace, experiment: str, parent_id: str, spec: dict[str, Any]
) -> set[str]:
    """Reuse, here and now, every step whose inputs come only from reused steps (all of
    them, in a pipeline where nothing changed): no process needs to start for those.
    Returns their names; the orchestrator runs the rest."""
    reused: set[str] = set()
    outputs: dict[str, tuple[str, str]] = {}
    producer = {o: s["name"] for s in spec["steps"] for o in s["outputs"]}
    lines = []
    for step in spec["steps"]:  # in run order: a step's producers come first
        waits = [*(producer[i] for i in step["inputs"]), *step["after"]]
        if not all(w in reused for w in waits):
            continue
        inputs = {i: outputs[i][1] for i in step["inputs"]}
        decision = decide(ws, step, inputs, spec["regenerateOutputs"])
        if decision.found is None:
            continue
        _, found = record_reused(ws, experiment, parent_id, step, decision)
        outputs.update(found)
        reused.add(step["name"])
        lines.append(
            f"Step {step['name']}: This step is eligible to reuse a previous run's output; "
            f"Reused {decision.found[0]}\n"
        )
    if lines:
        log = ws.store.run_folder(parent_id).driver_log
        log.parent.mkdir(parents=True, exist_ok=True)
        with open(log, "a", encoding="utf-8") as f:
            f.writelines(lines)
    return reused


def _local_root(ws: Workspace, name: str) -> str:
    """The folder of datastore ``name``: a step's outputs must be on a local one."""
    from ...data.datastore import Datastore

    store = Datastore.get(ws, name)
    if getattr(store, "datastore_type", None) != "Local":
        raise AmlError(
            f"A pipeline step's output is to be written to datastore {name!r}, which is "
            "not a local folder; in this version give it a local destination (the default)."
        )
    return str(store.fs_path())


def _step_spec(
    ws: Workspace,
    step: PythonScriptStep | CommandStep,
    source: str,
    snapshot_id: str,
    values: dict[str, Any],
) -> dict[str, Any]:
    arguments: list[dict[str, Any]] = []
    for_key: list[Any] = []
    dataset_inputs: dict[str, dict[str, Any]] = {}
    for arg in step.arguments:
        if graph.is_input(arg) or isinstance(arg, PipelineData):
            name = graph.port_name(arg)
            arguments.append({"data": name})
            for_key.append(f"<data:{name}>")
        elif graph.is_output(arg):
            arguments.append({"output": arg.name})
            for_key.append(f"<output:{arg.name}>")
        elif hasattr(arg, "_aml_run_input"):  # a dataset: pinned to its bytes now
            spec = arg._aml_run_input(ws, len(dataset_inputs) + 1)
            dataset_inputs[spec["name"]] = spec
            arguments.append({"dataset": spec})
            for_key.append(f"<dataset:{spec['name']}>")
        elif isinstance(arg, PipelineParameter):
            arguments.append({"param": arg.name})
            for_key.append(values[arg.name])
        else:
            arguments.append({"text": str(arg)})
            for_key.append(str(arg))
    named_only = []  # datasets in inputs= only: the script finds them by name
    for item in step._inputs:
        if hasattr(item, "_aml_run_input") and item not in step.arguments:
            spec = item._aml_run_input(ws, len(dataset_inputs) + 1)
            dataset_inputs[spec["name"]] = spec
            named_only.append(spec)
    dataset_outputs = {}
    data_roots = {}  # a PipelineData on a datastore of its own: that datastore's folder
    for index, out in enumerate(step._outputs, start=1):
        if isinstance(out, PipelineData) and out.datastore is not None:
            data_roots[out.name] = _local_root(ws, out.datastore.name)
        elif not isinstance(out, PipelineData):
            spec = out._aml_run_output(ws, index)
            dataset_outputs[out.name] = {"spec": spec, "root": _local_root(ws, spec["datastore"])}
    runconfig = None
    environment_hash = f"python:{sys.executable}"
    if step.runconfig is not None:
        from ...compute.runconfig_file import to_document

        runconfig = to_document(step.runconfig)
        env = step.runconfig._submission_environment(ws)
        if env is not None:
            variables = json.dumps(env.environment_variables or {}, sort_keys=True)
            environment_hash = f"{env.hash}:{hashlib.sha256(variables.encode()).hexdigest()}"
    return {
        "name": step.name,
        "type": step.step_type,
        "script": step.script_name if isinstance(step, PythonScriptStep) else None,
        # a CommandStep's command line (a string); a list command's parts are the arguments
        "command": step.command_text if isinstance(step, CommandStep) else None,
        "sourceDirectory": source,
        "snapshotId": snapshot_id,
        "arguments": arguments,
        "argumentsForKey": for_key,
        "inputs": [graph.port_name(d) for d in graph.data_inputs(step)],
        "outputs": [o.name for o in step._outputs],
        "datasetOutputs": dataset_outputs,
        "dataRoots": data_roots,
        "datasetInputs": {n: spec["datasetId"] for n, spec in dataset_inputs.items()},
        "namedInputs": named_only,
        "after": [s.name for s in step._after],
        "params": step.params,
        "allowReuse": step.allow_reuse,
        "environmentHash": environment_hash,
        "runconfig": runconfig,
    }

"""The orchestrator: ``python -m aml_jupyter.workflows.pipelines.orchestrator WORKSPACE [RUN_ID]``.

Started detached by ``Pipeline.submit`` (in its own session: a closed notebook leaves it
alone), it owns the pipeline's parent run as a supervisor owns a script run (its pid is the
run's owner: readers end the run Failed if it dies). It starts each step once the steps it
waits for have completed, as an ordinary child run through the ScriptRunConfig path (its own
supervisor, logs, metrics), or reuses an earlier run of it; independent steps run side by
side, at most one per CPU. SIGTERM (a cancel) stops every running step.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from ...compute import ComputeTarget
from ...compute.config import ScriptRunConfig
from ...compute.local.owner import heartbeat, owner_main
from ...compute.runconfig import RunConfiguration
from ...compute.submission import submit as submit_run
from ...data.output_config import resolve_path
from ...status import RunStatus
from ...store.run_records import new_run_id
from ...tracking import targets
from ...tracking.experiment import Experiment
from ...tracking.workspace import Workspace
from . import reuse
from .reused_step import decide, record_reused, reused_before
from .runs import STEP_RUN

#: Seconds between looks at the running steps.
POLL_S = 0.02
#: Seconds between checks that the running steps' supervisors still live.
LIVENESS_S = 1.0
HEARTBEAT_S = 2.0


def capacity() -> int:
    """How many steps run at once: the CPUs this process may use
    (``AML_PIPELINE_MAX_PARALLEL`` to say otherwise)."""
    given = os.environ.get("AML_PIPELINE_MAX_PARALLEL")
    if given and given.isdigit() and int(given) > 0:
        return int(given)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


class _Recorded:
    """A step's dataset as recorded at submit, handed to the ScriptRunConfig path as the
    dataset or OutputFileDatasetConfig was (it lays it out, uploads an output at the end)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


class _RecordedInput(_Recorded):
    def _aml_run_input(self, ws: Workspace, index: int) -> dict[str, Any]:
        return dict(self.spec)


class _RecordedOutput(_Recorded):
    def _aml_run_output(self, ws: Workspace, index: int) -> dict[str, Any]:
        return dict(self.spec)


class Orchestrator:
    """Runs one pipeline run to its end."""

    def __init__(self, ws: Workspace, run_id: str) -> None:
        self.ws, self.run_id = ws, run_id
        record = ws.store.get_run(run_id)
        self.experiment = Experiment(ws, record.experiment, _check_name=False)
        self.spec: dict[str, Any] = dict(record.definition)["pipeline"]
        self.steps: dict[str, dict[str, Any]] = {s["name"]: s for s in self.spec["steps"]}
        self.producer = {o: s["name"] for s in self.spec["steps"] for o in s["outputs"]}
        #: step name -> "pending" | "running" | a terminal status | "skipped"
        self.state = {name: "pending" for name in self.steps}
        self.run_ids: dict[str, str] = {}
        #: output name -> (folder, content hash), once its producer completed
        self.outputs: dict[str, tuple[str, str]] = {}
        self.cancel = threading.Event()
        self.folder = ws.store.run_folder(run_id)
        self.folder.driver_log.parent.mkdir(parents=True, exist_ok=True)
        self.log: IO[str] = open(self.folder.driver_log, "a", encoding="utf-8")  # noqa: SIM115
        self.target = ComputeTarget(ws, "local")
        self.failed: list[str] = []
        self.liveness_checked = time.monotonic()
        for name, (step_run, props) in reused_before(ws, run_id).items():  # by the submitter
            self.state[name], self.run_ids[name] = RunStatus.COMPLETED, step_run
            for out in self.steps[name]["outputs"]:
                self.outputs[out] = (props[reuse.OUTPUT_PATH + out], props[reuse.OUTPUT_HASH + out])

    def say(self, text: str) -> None:
        self.log.write(text + "\n")
        self.log.flush()

    # the loop --------------------------------------------------------------------------------
    def run(self) -> None:
        store = self.ws.store
        store.set_status(self.run_id, RunStatus.RUNNING)
        self.say(f"PipelineRun {self.run_id}: {len(self.steps)} steps, up to {capacity()} at once")
        beat = 0.0
        while True:
            now = time.monotonic()
            if now - beat > HEARTBEAT_S:
                beat = now
                heartbeat(self.folder)
                if store.get_run(self.run_id).status == RunStatus.CANCEL_REQUESTED:
                    self.cancel.set()
            self._collect()
            if self.cancel.is_set() or (self.failed and not self.spec["continueOnStepFailure"]):
                self._stop_all()
                break
            started = self._start_ready()
            if not any(s in ("pending", "running") for s in self.state.values()):
                break
            if not started:
                time.sleep(POLL_S)
        self._end()

    def _start_ready(self) -> bool:
        started = False
        running = sum(1 for s in self.state.values() if s == "running")
        for name, step in self.steps.items():
            if self.state[name] != "pending":
                continue
            before = self._waits_for(step)
            if any(
                self.state[b] in RunStatus.TERMINAL - {RunStatus.COMPLETED}
                or self.state[b] == "skipped"
                for b in before
            ):
                self.state[name] = "skipped"
                self.say(f"Step {name} will not run: a step it waits for did not complete.")
                started = True
                continue
            if not all(self.state[b] == RunStatus.COMPLETED for b in before):
                continue
            if running >= capacity():
                break
            if self._start(name, step):
                running += 1
            started = True
        return started

    def _waits_for(self, step: dict[str, Any]) -> list[str]:
        return [*(self.producer[i] for i in step["inputs"]), *step["after"]]

    def _collect(self) -> None:
        store = self.ws.store
        running = [n for n, state in self.state.items() if state == "running"]
        if not running:
            return
        records = [store.get_run(self.run_ids[n]) for n in running]
        if time.monotonic() - self.liveness_checked > LIVENESS_S:
            # The target's liveness check: a step whose supervisor died ends Failed (and so
            # does the pipeline) instead of looking Running for ever.
            self.liveness_checked = time.monotonic()
            records = targets.check_active_runs(self.ws, records)
        for name, record in zip(running, records, strict=True):
            if record.status not in RunStatus.TERMINAL:
                continue
            if record.status == RunStatus.COMPLETED:
                self._record_outputs(name, record.id)
            else:
                message = (record.error or {}).get("message", record.status)
                self.failed.append(f"step {name!r} ended {record.status}: {message}")
            self.state[name] = record.status
            self.say(f"Step {name} ({record.id}): {record.status}")

    def _record_outputs(self, name: str, run_id: str) -> None:
        props: dict[str, str] = {}
        for out in self.steps[name]["outputs"]:
            folder = self._output_folder(self.steps[name], run_id, out)
            Path(folder).mkdir(parents=True, exist_ok=True)  # an output left empty
            content, listing = reuse.output_hash(Path(folder))
            self.outputs[out] = (folder, content)
            props[reuse.OUTPUT_HASH + out] = content
            props[reuse.OUTPUT_LISTING + out] = listing
        if props:
            self.ws.store.add_properties(run_id, props)

    # one step ---------------------------------------------------------------------------------
    def _output_folder(self, step: dict[str, Any], run_id: str, output: str) -> str:
        """Where an output of the step's run ``run_id`` lies: a PipelineData's folder, or
        where an output dataset's files are uploaded when the run completes."""
        dataset = step["datasetOutputs"].get(output)
        if dataset is not None:
            path = resolve_path(dataset["spec"]["path"], run_id, output)
            return str(Path(dataset["root"]) / path)
        root = step.get("dataRoots", {}).get(output, self.spec["datastoreFolder"])
        return str(Path(root) / "azureml" / run_id / output)

    def _start(self, name: str, step: dict[str, Any]) -> bool:
        """Start (or reuse) step ``name``; True when it is running."""
        inputs = {i: self.outputs[i][1] for i in step["inputs"]}
        decision = decide(self.ws, step, inputs, self.spec["regenerateOutputs"])
        key, parts, why = decision.key, decision.parts, decision.switched_off
        if decision.found is not None:
            run_id, outputs = record_reused(
                self.ws, self.experiment.name, self.run_id, step, decision
            )
            self.run_ids[name] = run_id
            self.outputs.update(outputs)
            self.state[name] = RunStatus.COMPLETED
            self.say(
                f"Step {name}: This step is eligible to reuse a previous run's output; "
                f"Reused {decision.found[0]}"
            )
            return False
        run_id = new_run_id(self.experiment.name)
        self.run_ids[name] = run_id
        self.state[name] = "running"
        self.say(f"Step {name}: This step will run and generate new outputs ({run_id})")
        try:
            self._submit(name, step, run_id, key, parts, why)
        except Exception as exc:  # a step that cannot start fails the pipeline, not us
            self.failed.append(f"step {name!r} could not start: {exc}")
            self.state[name] = RunStatus.FAILED
            self.say(f"Step {name}: could not start: {exc}")
        return True

    def _argument(self, step: dict[str, Any], arg: dict[str, Any], paths: dict[str, str]) -> Any:
        """One argument of the step's script: a folder's path, a parameter's value, text, or
        an output dataset (the ScriptRunConfig path puts its folder's path in)."""
        if "output" in arg:
            return _RecordedOutput(step["datasetOutputs"][arg["output"]]["spec"])
        if "data" in arg:
            return paths[arg["data"]]
        if "dataset" in arg:
            return _RecordedInput(arg["dataset"])
        if "param" in arg:
            return str(self.spec["parameters"][arg["param"]])
        return arg["text"]

    def _submit(
        self,
        name: str,
        step: dict[str, Any],
        run_id: str,
        key: str,
        parts: dict[str, str],
        why: str | None,
    ) -> None:
        paths = {i: self.outputs[i][0] for i in step["inputs"]}
        for out in step["outputs"]:
            paths[out] = self._output_folder(step, run_id, out)
            if out not in step["datasetOutputs"]:  # a dataset's own folder is run_data's
                Path(paths[out]).mkdir(parents=True, exist_ok=True)
        arguments = [self._argument(step, a, paths) for a in step["arguments"]]
        config = RunConfiguration()
        if step["runconfig"] is not None:
            from ...compute.runconfig_file import from_document

            source = Path(step["sourceDirectory"])
            config = from_document(step["runconfig"], f"step {name}", source, source)
        variables = {
            f"AZUREML_DATAREFERENCE_{d}": p
            for d, p in paths.items()
            if d not in step["datasetOutputs"]  # those have v1's dataset variables
        }
        variables.update({f"AML_PARAMETER_{k}": str(v) for k, v in step["params"].items()})
        config.environment_variables = {**config.environment_variables, **variables}
        if step["script"] is not None:
            src = ScriptRunConfig(
                source_directory=step["sourceDirectory"],
                script=step["script"],
                arguments=[a if isinstance(a, _Recorded) else str(a) for a in arguments],
                run_config=config,
                compute_target="local",
            )
        else:  # a CommandStep: its command line, or its parts resolved
            command = step["command"] if step["command"] else [str(a) for a in arguments]
            src = ScriptRunConfig(
                source_directory=step["sourceDirectory"],
                command=command,
                run_config=config,
                compute_target="local",
            )
        src._inputs = [_RecordedInput(spec) for spec in step["namedInputs"]]
        submit_run(
            self.target,
            self.experiment,
            src,
            None,
            self.run_id,
            run_id=run_id,
            snapshot_id=step["snapshotId"],
            run_type=STEP_RUN,
            display_name=name,
        )
        store = self.ws.store
        props = {
            reuse.KEY: key,
            reuse.PARTS: json.dumps(parts, sort_keys=True),
            reuse.STEP_NAME: name,
            **{reuse.OUTPUT_PATH + o: paths[o] for o in step["outputs"]},
        }
        if why:
            props["azureml.pipeline.reuseDecision"] = f"Reuse was switched off: {why}."
        store.add_properties(run_id, props)

    # the end ---------------------------------------------------------------------------------
    def _stop_all(self) -> None:
        store = self.ws.store
        running = [self.run_ids[n] for n, s in self.state.items() if s == "running"]
        for run_id in running:
            try:
                targets.cancel(self.ws, store.get_run(run_id))
            except Exception as exc:  # the others must still be stopped
                self.say(f"Could not cancel step run {run_id}: {exc}")
        while any(s == "running" for s in self.state.values()):
            self._collect()
            time.sleep(POLL_S)
        for name, state in self.state.items():
            if state == "pending":
                self.state[name] = "skipped"

    def _end(self) -> None:
        from ...tracking.finalize import finalize_run

        if self.cancel.is_set():
            self.say("PipelineRun canceled")
            finalize_run(self.ws, self.run_id, RunStatus.CANCELED)
        elif self.failed:
            message = "; ".join(self.failed)
            self.say(f"PipelineRun failed: {message}")
            finalize_run(
                self.ws,
                self.run_id,
                RunStatus.FAILED,
                error={"code": "StepFailed", "message": message},
            )
        else:
            self.say("PipelineRun completed")
            finalize_run(self.ws, self.run_id, RunStatus.COMPLETED)
        self.log.close()


def own(ws: Workspace, run_id: str) -> None:
    orchestrator = Orchestrator(ws, run_id)
    signal.signal(signal.SIGTERM, lambda *_: orchestrator.cancel.set())
    if ws.store.get_run(run_id).status == RunStatus.CANCEL_REQUESTED:
        orchestrator.cancel.set()
    orchestrator.run()


def main(argv: list[str] | None = None) -> int:
    return owner_main(
        argv, "orchestrator.log", own, "The pipeline's orchestrator failed", "OrchestratorFailed"
    )


if __name__ == "__main__":
    sys.exit(main())

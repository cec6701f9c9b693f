"""A pipeline's graph: its steps (with the ones upstream of them), what is wrong with it (all
of it at once), and an order to run it in."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...data.output_config import OutputFileDatasetConfig, OutputFileDatasetInput
from ...errors import AmlError
from .data import PipelineData, PipelineParameter, check_value
from .steps import CommandStep, PipelineStep, PythonScriptStep, StepSequence


def collect_steps(steps: Any) -> list[PipelineStep]:
    """The steps given (lists and :class:`StepSequence` flattened) and every step upstream of
    them, through data edges and ``run_after`` (v1's ``resolve_closure``), in first-seen
    order."""
    if isinstance(steps, (PipelineStep, StepSequence)):
        steps = [steps]
    if not isinstance(steps, Iterable) or isinstance(steps, (str, bytes)):
        raise AmlError("Pipeline(steps=...) takes a list of steps (e.g. [prepare, train]).")
    given: list[PipelineStep] = []
    for item in steps:
        if isinstance(item, StepSequence):
            given.extend(item.steps())
        elif isinstance(item, PipelineStep):
            given.append(item)
        else:
            raise AmlError(f"Pipeline(steps=...) takes steps, got {type(item).__name__}.")
    seen: dict[int, PipelineStep] = {}
    todo = list(given)
    while todo:
        step = todo.pop(0)
        if id(step) in seen:
            continue
        seen[id(step)] = step
        todo.extend(upstream(step))
    return list(seen.values())


def is_input(item: Any) -> bool:
    """A PipelineData or another step's output dataset (``output.as_input()``)."""
    return isinstance(item, (PipelineData, OutputFileDatasetInput))


def is_output(item: Any) -> bool:
    return isinstance(item, (PipelineData, OutputFileDatasetConfig))


def port_name(item: Any) -> str:
    """The name of the data an input or output carries (the producing output's name)."""
    if isinstance(item, OutputFileDatasetInput):
        return str(item.output.name)
    return str(item.name)


def producer_of(item: Any) -> PipelineStep | None:
    data = item.output if isinstance(item, OutputFileDatasetInput) else item
    return getattr(data, "_producer", None)


def data_inputs(step: PipelineStep) -> list[Any]:
    """What a step reads from other steps: its inputs, and any PipelineData or
    ``as_input()`` in its arguments that it does not write."""
    found = [i for i in step._inputs if is_input(i)]
    for arg in getattr(step, "arguments", []):
        if is_input(arg) and arg not in step._outputs and arg not in found:
            found.append(arg)
    return found


def upstream(step: PipelineStep) -> list[PipelineStep]:
    """The steps ``step`` waits for: the producers of its inputs, and its ``run_after``."""
    found = [p for p in (producer_of(d) for d in data_inputs(step)) if p is not None]
    return [*found, *step._after]


def parameters(steps: list[PipelineStep]) -> dict[str, PipelineParameter]:
    """The pipeline's parameters, by name, from the steps' arguments."""
    found: dict[str, PipelineParameter] = {}
    for step in steps:
        for arg in getattr(step, "arguments", []):
            if isinstance(arg, PipelineParameter):
                found.setdefault(arg.name, arg)
    return found


def find_cycle(steps: list[PipelineStep]) -> list[str] | None:
    """The names along one cycle of ``run after`` edges, or None when there is none."""
    state: dict[int, int] = {}  # 1: on the current path, 2: done
    path: list[PipelineStep] = []

    def visit(step: PipelineStep) -> list[str] | None:
        state[id(step)] = 1
        path.append(step)
        for before in upstream(step):
            if state.get(id(before)) == 1:
                loop = path[path.index(before) :]
                return [s.name for s in loop] + [before.name]
            if id(before) not in state:
                found = visit(before)
                if found:
                    return found
        path.pop()
        state[id(step)] = 2
        return None

    for step in steps:
        if id(step) not in state:
            found = visit(step)
            if found:
                return found
    return None


def problems(
    steps: list[PipelineStep],
    default_source: str,
    pipeline_parameters: dict[str, Any] | None,
) -> list[str]:
    """Everything wrong with the pipeline, each a sentence (empty: it can run)."""
    found: list[str] = []
    names: dict[str, int] = {}
    producers: dict[str, PipelineStep] = {}
    in_graph = {id(s) for s in steps}
    for step in steps:
        names[step.name] = names.get(step.name, 0) + 1
        for out in step._outputs:
            if not is_output(out):
                found.append(
                    f"step {step.name!r}: output {out!r} is not a PipelineData or an "
                    "OutputFileDatasetConfig"
                )
                continue
            if out.name is None:
                found.append(f"step {step.name!r}: give its OutputFileDatasetConfig a name=")
                continue
            other = producers.setdefault(out.name, step)
            if other is not step:
                found.append(
                    f"the output {out.name!r} is written by two steps, {other.name!r} and "
                    f"{step.name!r}: give each its own"
                )
    found += [
        f"two or more steps are named {n!r}: names must differ" for n, c in names.items() if c > 1
    ]
    found += [
        f"step name {n[:40]!r} is too long or has a line break: one line of at most 255 characters"
        for n in names
        if len(n) > 255 or "\n" in n or "\r" in n
    ]
    for step in steps:
        for data in data_inputs(step):
            producer = producer_of(data)
            if producer is None or id(producer) not in in_graph:
                found.append(
                    f"step {step.name!r} reads {port_name(data)!r}, which no step "
                    "produces: add it to the outputs= of the step that writes it"
                )
        for item in step._inputs:
            if not is_input(item) and not hasattr(item, "_aml_run_input"):
                found.append(
                    f"step {step.name!r}: input {item!r} is not a PipelineData, an "
                    "output's as_input() or a dataset's as_named_input()"
                )
        if isinstance(step, (PythonScriptStep, CommandStep)):
            found += _script_problems(step, default_source)
        else:
            found.append(f"step {step.name!r}: {type(step).__name__} is not supported yet")
    cycle = find_cycle(steps)
    if cycle:
        found.append(f"the steps form a cycle: {' -> '.join(cycle)}")
    declared = parameters(steps)
    for name, value in (pipeline_parameters or {}).items():
        if name not in declared:
            known = ", ".join(sorted(declared)) or "none"
            found.append(f"pipeline_parameters names {name!r}, which no step uses (known: {known})")
            continue
        problem = check_value(name, value, declared[name].default_value)
        if problem:
            found.append(problem)
    return found


def _script_problems(step: PythonScriptStep | CommandStep, default_source: str) -> list[str]:
    out: list[str] = []
    source = Path(step.source_directory or default_source).expanduser()
    if not source.is_dir():
        return [f"step {step.name!r}: source_directory {str(source)!r} is not a folder"]
    if isinstance(step, PythonScriptStep) and not (source / step.script_name).is_file():
        out.append(f"step {step.name!r}: script {step.script_name!r} is not in {str(source)!r}")
    if isinstance(step, CommandStep):
        out += [
            f"step {step.name!r}: a command's parts may not be datasets ({a!r}); pass the "
            "dataset to a PythonScriptStep's arguments"
            for a in step.arguments
            if hasattr(a, "_aml_run_input") or hasattr(a, "_aml_run_output")
        ]
    for key, value in step.params.items():
        if not isinstance(value, (str, int, float, bool)):
            out.append(f"step {step.name!r}: params[{key!r}] must be a str, int, float or bool")
    target = step.compute_target
    name = target if isinstance(target, str) or target is None else getattr(target, "name", "?")
    if name not in (None, "local"):
        out.append(
            f"step {step.name!r}: compute_target {name!r}: pipelines run on 'local' in this version"
        )
    return out


def run_order(steps: list[PipelineStep]) -> list[PipelineStep]:
    """The steps, each after the ones it waits for (the graph has no cycle)."""
    done: dict[int, PipelineStep] = {}

    def place(step: PipelineStep) -> None:
        if id(step) in done:
            return
        for before in upstream(step):
            place(before)
        done[id(step)] = step

    for step in steps:
        place(step)
    return list(done.values())

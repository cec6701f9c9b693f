"""A pipeline's steps (v1's ``PythonScriptStep``), their order without data edges
(``run_after``, ``StepSequence``)."""

from __future__ import annotations

import itertools
import os
from typing import Any

from ...errors import AmlError
from .data import PipelineData

_numbers = itertools.count(1)


def mark_producer(output: Any, step: PipelineStep) -> None:
    """Remember which step writes ``output`` (a PipelineData or an OutputFileDatasetConfig):
    the graph follows it from the steps that read it."""
    if isinstance(output, PipelineData) or hasattr(output, "_aml_run_output"):
        output._producer = step


class PipelineStep:
    """What every step has: a name, inputs and outputs, and the steps it must follow."""

    #: The step's type: part of its reuse key.
    step_type = "PipelineStep"

    def __init__(
        self, name: str | None, inputs: list[Any] | None, outputs: list[Any] | None
    ) -> None:
        self.name = name or f"{type(self).__name__}_{next(_numbers)}"
        if not isinstance(self.name, str) or not self.name.strip():
            raise AmlError(f"A step's name must be a non-empty string, got {name!r}.")
        self._inputs = list(inputs or [])
        self._outputs = list(outputs or [])
        self._after: list[PipelineStep] = []
        for out in self._outputs:
            mark_producer(out, self)

    def run_after(self, step: PipelineStep) -> None:
        """Run this step only after ``step`` has completed (an edge without data)."""
        if not isinstance(step, PipelineStep):
            raise AmlError(f"run_after takes a step, got {type(step).__name__}.")
        self._after.append(step)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r})"


class PythonScriptStep(PipelineStep):
    """Run ``script_name`` from ``source_directory`` as one step (v1's signature).

    ``arguments`` may hold :class:`PipelineData` (the folder's path) and
    :class:`PipelineParameter` (its value); ``params`` become ``$AML_PARAMETER_<name>``.
    ``compute_target`` may be ``'local'`` (v1 refused it) or None; ``runconfig`` a
    ``RunConfiguration`` (its environment). ``hash_paths`` is accepted and ignored, as in v1:
    the step's whole snapshot is hashed, after its ignore rules.
    """

    step_type = "PythonScriptStep"

    def __init__(
        self,
        script_name: str,
        name: str | None = None,
        arguments: list[Any] | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: Any = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | os.PathLike[str] | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
        hash_paths: list[str] | None = None,
    ) -> None:
        if not isinstance(script_name, str) or not script_name:
            raise AmlError("PythonScriptStep needs script_name= (a file in source_directory).")
        super().__init__(name or script_name, inputs, outputs)
        self.script_name = script_name
        self.arguments = list(arguments or [])
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.params = dict(params or {})
        self.source_directory = None if source_directory is None else os.fspath(source_directory)
        self.allow_reuse = bool(allow_reuse)
        self.version = version
        for arg in self.arguments:  # an output dataset in the arguments is an output
            if hasattr(arg, "_aml_run_output") and arg not in self._outputs:
                self._outputs.append(arg)
                mark_producer(arg, self)


class StepSequence:
    """Steps that run one after another, in the order given (v1's ``StepSequence``); an item
    that is a list is a group whose steps run side by side, after the item before it."""

    def __init__(self, steps: list[Any] | None = None) -> None:
        self._steps = list(steps or [])
        groups = [self._group(item) for item in self._steps]
        for before, after in itertools.pairwise(groups):
            for step in after:
                for earlier in before:
                    step.run_after(earlier)

    @staticmethod
    def _group(item: Any) -> list[PipelineStep]:
        if isinstance(item, StepSequence):
            return item.steps()
        if isinstance(item, PipelineStep):
            return [item]
        if isinstance(item, (list, tuple)) and all(isinstance(s, PipelineStep) for s in item):
            return list(item)
        raise AmlError(f"StepSequence takes steps or lists of steps, got {item!r}.")

    def steps(self) -> list[PipelineStep]:
        """Every step, in order."""
        return [step for item in self._steps for step in self._group(item)]


class CommandStep(PipelineStep):
    """Run a command line from ``source_directory`` as one step (v1's signature).

    ``command`` is a string (run by the shell; data paths come in
    ``$AZUREML_DATAREFERENCE_<name>``) or a list whose items may be :class:`PipelineData`
    (the folder's path), an output's ``as_input()`` and :class:`PipelineParameter` (its
    value), as in ``PythonScriptStep.arguments``.
    """

    step_type = "CommandStep"

    def __init__(
        self,
        command: str | list[Any] | None = None,
        name: str | None = None,
        compute_target: Any = None,
        runconfig: Any = None,
        runconfig_pipeline_params: Any = None,
        inputs: list[Any] | None = None,
        outputs: list[Any] | None = None,
        params: dict[str, Any] | None = None,
        source_directory: str | os.PathLike[str] | None = None,
        allow_reuse: bool = True,
        version: str | None = None,
    ) -> None:
        if isinstance(command, str) and command.strip():
            text, items = command, []
        elif isinstance(command, (list, tuple)) and command:
            text, items = None, list(command)
        else:
            raise AmlError("CommandStep needs command= (a command line, or a list of its parts).")
        super().__init__(name or f"command_{next(_numbers)}", inputs, outputs)
        self.command_text = text
        #: The parts of a list command: read like a PythonScriptStep's arguments.
        self.arguments = items
        self.compute_target = compute_target
        self.runconfig = runconfig
        self.params = dict(params or {})
        self.source_directory = None if source_directory is None else os.fspath(source_directory)
        self.allow_reuse = bool(allow_reuse)
        self.version = version

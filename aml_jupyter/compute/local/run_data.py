"""Datasets in a run's arguments: recorded in its definition at submit, laid out on the target
before the script starts (through the data layer's providers: compute sits below data).

At submit each dataset argument becomes v1's placeholder, ``DatasetConsumptionConfig:<name>``
for an input and ``DatasetOutputConfig:<name>`` for an output, and the definition records
``inputDatasets`` / ``outputDatasets`` (the specs the data layer wrote: names, modes, dataset
ids, destinations; never a credential). The objects are recognised by duck typing: an input
answers ``_aml_run_input(ws, index)`` (a ``DatasetConsumptionConfig``, or a plain dataset:
v1's ``as_named_input(<its name>)``, mode direct), an output ``_aml_run_output(ws, index)``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ...errors import AmlError
from ...tracking import plugins

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

INPUT_PLACEHOLDER = "DatasetConsumptionConfig:"
OUTPUT_PLACEHOLDER = "DatasetOutputConfig:"
#: Names a run's input or output may not take: it names an environment variable of the
#: script, and these are the ones the run itself needs.
_RESERVED = {"PATH", "HOME", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "USER", "SHELL", "TMPDIR"}
_RESERVED_PREFIXES = ("AML_", "AZUREML_", "MLFLOW_", "LD_", "PYTHON")


def has_data(argument: Any) -> bool:
    """Whether an argument is a dataset input or output (not a plain value)."""
    return hasattr(argument, "_aml_run_input") or hasattr(argument, "_aml_run_output")


def data_arguments(
    ws: Workspace, arguments: list[Any], extra: list[Any] | None = None
) -> tuple[list[str], list[dict[str, Any]], list[dict[str, Any]]]:
    """The arguments with each dataset replaced by its placeholder, and the input and output
    specs in argument order; ``extra`` (v1's ``Estimator(inputs=[...])``) adds datasets the
    script finds by name only. Raises :class:`AmlError` on a name used twice or reserved."""
    out: list[str] = []
    inputs: list[dict[str, Any]] = []
    outputs: list[dict[str, Any]] = []
    for item in extra or []:
        if hasattr(item, "_aml_run_input"):
            inputs.append(item._aml_run_input(ws, len(inputs) + 1))
        elif hasattr(item, "_aml_run_output"):
            outputs.append(item._aml_run_output(ws, len(outputs) + 1))
        else:
            raise AmlError(f"inputs takes datasets (dataset.as_named_input('name')); got {item!r}.")
    for argument in arguments:
        if hasattr(argument, "_aml_run_input"):
            spec = argument._aml_run_input(ws, len(inputs) + 1)
            inputs.append(spec)
            out.append(INPUT_PLACEHOLDER + spec["name"])
        elif hasattr(argument, "_aml_run_output"):
            spec = argument._aml_run_output(ws, len(outputs) + 1)
            outputs.append(spec)
            out.append(OUTPUT_PLACEHOLDER + spec["name"])
        else:
            out.append(str(argument))
    seen: set[str] = set()
    for spec in inputs + outputs:
        name = spec["name"]
        if name in seen:
            raise AmlError(
                f"Two of the run's datasets are named {name!r}; give each its own name "
                "(as_named_input('...') / OutputFileDatasetConfig(name='...'))."
            )
        if name in _RESERVED or name.upper().startswith(_RESERVED_PREFIXES):
            raise AmlError(
                f"A run's dataset may not be named {name!r}: the script gets it as an "
                "environment variable of that name, which the run needs for itself."
            )
        seen.add(name)
    return out, inputs, outputs


def uses_data(definition: dict[str, Any]) -> bool:
    return bool(definition.get("inputDatasets") or definition.get("outputDatasets"))


def prepare(ws: Workspace, run_id: str, definition: dict[str, Any]) -> dict[str, str]:
    """On the target, before the script starts: lay out the inputs and outputs, put their
    paths (or a direct input's id) in place of the placeholders in ``definition['arguments']``
    and return the environment variables of v1's contract (empty: no datasets)."""
    if not uses_data(definition):
        return {}
    values: dict[str, str] = plugins.load("run_data.prepare")(ws, run_id, definition)
    names = {s["name"] for s in definition.get("inputDatasets") or []}
    outs = {s["name"] for s in definition.get("outputDatasets") or []}

    def replaced(argument: str) -> str:
        for prefix, known in ((INPUT_PLACEHOLDER, names), (OUTPUT_PLACEHOLDER, outs)):
            if argument.startswith(prefix) and argument[len(prefix) :] in known:
                return values[argument[len(prefix) :]]
        return argument

    definition["arguments"] = [replaced(a) for a in definition.get("arguments") or []]
    return values

"""v1's environment contract for a run's datasets, the same on ``local`` and on a remote node:
an empty folder for each output and the two list variables v1 scripts read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..store.run_folder import RunFolder


def with_outputs(
    folder: RunFolder, definition: dict[str, Any], values: dict[str, str], modes: list[str]
) -> dict[str, str]:
    """``values`` (the inputs' paths or ids) with an empty folder for each output, and v1's
    two list variables: ``name:mode`` of each input, ``;``-joined output names."""
    outputs = []
    for spec in definition.get("outputDatasets") or []:
        path = folder.dataset_output(spec["name"])
        path.mkdir(parents=True, exist_ok=True)
        values[spec["name"]] = str(path)
        outputs.append(spec["name"])
    if modes:
        values["AZUREML_DATASET_ENVIRONMENT_VARS"] = ",".join(modes)
    if outputs:
        values["AZUREML_DATASET_FILE_OUTPUTS"] = ";".join(outputs)
    return values

"""A run's datasets: ``run.input_datasets``, ``run.output_datasets`` and the lineage shown in
``get_details()`` (methods of :class:`aml_jupyter.Run`).

Inside the run's script they follow v1's environment contract (``AZUREML_DATASET_ENVIRONMENT_
VARS``, ``AZUREML_DATASET_FILE_OUTPUTS``): an input is its local path (mount, download) or the
dataset itself (direct), an output the folder to write. Elsewhere (a notebook looking at a
run) both are the recorded datasets, by name. Datasets are a higher layer, reached through
:mod:`.plugins`.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..store.datasets import SAVED_PREFIX
from . import plugins

if TYPE_CHECKING:
    from ..store.types import RunRecord
    from .workspace import Workspace

_MECHANISMS = {"mount": "Mount", "download": "Download", "direct": "Direct"}


class RunDatasets:
    """``input_datasets``, ``output_datasets``, and ``get_details``' dataset lists."""

    _ws: Workspace
    _id: str

    if TYPE_CHECKING:

        def _current(self) -> RunRecord: ...

    def _inside(self) -> bool:
        """Whether this process is this run's script (its target set the contract)."""
        return os.environ.get("AML_RUN_ID") == self._id

    def _dataset(self, dataset_id: str) -> Any:
        return plugins.load("run_data.dataset")(self._ws, dataset_id)

    @property
    def input_datasets(self) -> dict[str, Any]:
        """``{name: value}``: in the script, a path (mount, download) or the dataset (direct),
        as v1; elsewhere, the dataset each name read."""
        specs = self._current().definition.get("inputDatasets") or []
        if self._inside():
            out: dict[str, Any] = {}
            listed = os.environ.get("AZUREML_DATASET_ENVIRONMENT_VARS", "")
            for item in filter(None, listed.split(",")):
                name, _, mode = item.partition(":")
                value = os.environ.get(name)
                if value is not None:
                    out[name] = self._dataset(value) if mode == "direct" else value
            return out
        return {s["name"]: self._dataset(s["datasetId"]) for s in specs}

    @property
    def output_datasets(self) -> dict[str, Any]:
        """``{name: value}``: in the script, the folder to write; elsewhere, the dataset each
        output became (once the run completed and uploaded it)."""
        if self._inside():
            listed = os.environ.get("AZUREML_DATASET_FILE_OUTPUTS", "")
            return {n: os.environ[n] for n in filter(None, listed.split(";")) if n in os.environ}
        return {
            r.name: self._dataset(r.dataset_id)
            for r in self._ws.store.run_datasets(self._id)
            if r.direction == "output"
        }

    def _dataset_details(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """``get_details()``' ``inputDatasets`` and ``outputDatasets``, in v1's shape:
        ``{'dataset': {'id', 'name', 'version'}, 'consumptionDetails': {'type': 'RunInput',
        'inputName', 'mechanism'}}`` and ``{'identifier': {'savedId'}, 'outputType':
        'RunOutput', 'outputDetails': {'outputName'}, 'dataset': {...}}``. The dataset is
        a small dict (v1 gave the object): ``name``/``version`` are None for a saved one."""
        records = self._ws.store.run_datasets(self._id)
        if not records:
            return [], []
        modes = {
            s["name"]: s["mode"] for s in self._current().definition.get("inputDatasets") or []
        }
        inputs, outputs = [], []
        for r in records:
            found = self._ws.store.get_dataset_by_id(r.dataset_id)
            named = found is not None and not found.name.startswith(SAVED_PREFIX)
            about = {
                "id": r.dataset_id,
                "name": found.name if named and found else None,
                "version": found.version if named and found else None,
            }
            if r.direction == "input":
                inputs.append(
                    {
                        "dataset": about,
                        "consumptionDetails": {
                            "type": "RunInput",
                            "inputName": r.name,
                            "mechanism": _MECHANISMS.get(modes.get(r.name, ""), "Direct"),
                        },
                    }
                )
            else:
                outputs.append(
                    {
                        "identifier": {"savedId": r.dataset_id},
                        "outputType": "RunOutput",
                        "outputDetails": {"outputName": r.name},
                        "dataset": about,
                    }
                )
        return inputs, outputs

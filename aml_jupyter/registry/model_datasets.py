"""The datasets a model was made from (v1's ``Model.register(..., datasets=[('training',
ds)])`` and ``model.datasets``): kept as one write-once property of the version, the dataset
versions' ids by scenario, so "which data trained this model" survives the run's deletion."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..tracking import plugins

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: The model property that holds ``[[scenario, dataset id], ...]``.
DATASETS_PROPERTY = "azureml.datasets"


def with_datasets(
    workspace: Workspace, properties: dict[str, Any] | None, datasets: Any
) -> dict[str, Any] | None:
    """``properties`` plus the datasets given (``[(scenario, dataset), ...]``); an
    unregistered dataset is saved first so it has an id (as a run's inputs are)."""
    if datasets is None:
        return properties
    if isinstance(datasets, (str, bytes)) or not isinstance(datasets, (list, tuple)):
        raise AmlError(
            "datasets is a list of (scenario, dataset) pairs, e.g. [('training', train_ds)]; "
            f"got {type(datasets).__name__}."
        )
    pairs = []
    for item in datasets:
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise AmlError(
                f"Each of datasets is a (scenario, dataset) pair like ('training', ds); got {item!r}."
            )
        scenario, dataset = item
        if not hasattr(dataset, "_saved"):  # a Dataset: data is a higher layer
            raise AmlError(
                f"datasets[{scenario!r}] is a {type(dataset).__name__}, not a Dataset (pass "
                "the dataset itself, e.g. Dataset.get_by_name(ws, 'train'))."
            )
        pairs.append([scenario, str(dataset._saved(workspace).id)])
    if not pairs:
        return properties
    out = dict(properties or {})
    out[DATASETS_PROPERTY] = json.dumps(pairs)
    return out


def model_datasets(workspace: Workspace, properties: dict[str, str]) -> dict[str, list[Any]]:
    """``{scenario: [dataset, ...]}`` from a model version's properties."""
    found: dict[str, list[Any]] = {}
    text = properties.get(DATASETS_PROPERTY)
    if not text:
        return found
    load = plugins.load("run_data.dataset")
    for scenario, dataset_id in json.loads(text):
        found.setdefault(str(scenario), []).append(load(workspace, str(dataset_id)))
    return found

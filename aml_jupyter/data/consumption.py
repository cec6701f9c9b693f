"""v1's ``DatasetConsumptionConfig``: a dataset as a run's named input, and how the script
gets it (``direct``: the dataset itself; ``mount`` / ``download``: a local path). Runs consume
it; this module only records the choice."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace
    from .abstract_dataset import AbstractDataset

MODES = ("direct", "mount", "download")
_INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def valid_input_name(name: str) -> bool:
    """Whether ``name`` can name a run's input (an environment variable's name)."""
    return bool(_INPUT_NAME.fullmatch(name))


class DatasetConsumptionConfig:
    """``dataset.as_named_input('train')``, then ``.as_mount()`` or ``.as_download()``."""

    def __init__(
        self,
        name: str,
        dataset: AbstractDataset,
        mode: str = "direct",
        path_on_compute: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not _INPUT_NAME.fullmatch(name):
            # v1 hands a run its inputs as environment variables named after them.
            raise AmlError(
                f"A dataset input's name is letters, digits and '_', not starting with a "
                f"digit (it names an environment variable in the run); got {name!r}."
            )
        if mode not in MODES:
            raise AmlError(f"A dataset input's mode is one of {', '.join(MODES)}; got {mode!r}.")
        if mode != "direct" and getattr(dataset, "_kind", "") != "file":
            raise AmlError(
                f"Only FileDataset supports {mode}; pass a TabularDataset as "
                "as_named_input(name) (mode 'direct')."
            )
        self.name = name
        self.dataset = dataset
        self.mode = mode
        self.path_on_compute = path_on_compute

    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The script gets a local folder holding the files (no FUSE: see FileDataset.mount)."""
        if getattr(self.dataset, "_kind", "") != "file":
            raise AmlError("Only FileDataset supports mount.")
        return DatasetConsumptionConfig(self.name, self.dataset, "mount", path_on_compute)

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        """The script gets a local folder the files were downloaded to."""
        if getattr(self.dataset, "_kind", "") != "file":
            raise AmlError("Only FileDataset supports download.")
        return DatasetConsumptionConfig(self.name, self.dataset, "download", path_on_compute)

    def _aml_run_input(self, workspace: Workspace, index: int) -> dict[str, Any]:
        """What a run's definition records of this input at submit (JSON, no secrets): the
        dataset's id (an unregistered dataset is saved first, as v1 did), how the script
        gets it, and where. Compute finds this method by its name (it sits below data)."""
        path = self.path_on_compute
        if path is not None and (
            not isinstance(path, str)
            or not path.strip("/ ")
            or path.startswith("/")
            or ".." in path.replace("\\", "/").split("/")
        ):
            raise AmlError(
                f"path_on_compute of input {self.name!r} is a relative folder path without "
                f"'..' (it is made inside the run's own folder); got {path!r}."
            )
        saved = self.dataset._saved(workspace)
        return {
            "name": self.name,
            "mode": self.mode,
            "pathOnCompute": path,
            "datasetId": saved.id,
            "kind": saved._kind,
        }

    def as_hdfs(self) -> Any:
        raise AmlError("as_hdfs is not supported here (no Spark/HDFS); use as_mount().")

    def __repr__(self) -> str:
        return f"DatasetConsumptionConfig(name={self.name!r}, mode={self.mode!r}, dataset={self.dataset!r})"

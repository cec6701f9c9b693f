"""v1's ``OutputFileDatasetConfig``: a folder a run's script writes, uploaded to a datastore
when the run completes (and registered as a file dataset when asked).

In a run's ``arguments`` it becomes the path of a local folder (made empty for the script);
the script also finds it as ``Run.get_context().output_datasets[name]`` and as the environment
variable ``name`` (v1's ``AZUREML_DATASET_FILE_OUTPUTS`` contract). When the run ends
Completed the folder's files go to ``destination`` — ``{run-id}`` and ``{output-name}`` in its
path replaced, each file whole or not at all (the datastore's ``upload``). A run that fails or
is canceled uploads nothing, as v1 ("only if the job succeeds"); its driver log says so.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..registry.names import check_name
from .consumption import valid_input_name

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: v1's default destination, on the workspace's default datastore.
DEFAULT_PATH = "dataset/{run-id}/{output-name}"
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_KNOWN = ("run-id", "output-name")


class OutputFileDatasetConfig:
    """``OutputFileDatasetConfig(name=None, destination=(datastore, 'path/{run-id}'))``.

    ``name`` names the output in the run (an environment variable; None: ``output_<n>``, by
    its place among the run's outputs). ``destination`` is ``(datastore, path)``; None means
    the default datastore at ``dataset/{run-id}/{output-name}``. ``source`` (v1: a folder on
    the compute) is not needed here: the run gets a folder of its own.
    """

    def __init__(
        self,
        name: str | None = None,
        destination: tuple[Any, str] | None = None,
        source: str | None = None,
        partition_format: str | None = None,
    ) -> None:
        if name is not None and (not isinstance(name, str) or not valid_input_name(name)):
            raise AmlError(
                "An output's name is letters, digits and '_', not starting with a digit (it "
                f"names an environment variable in the run); got {name!r}."
            )
        if source is not None:
            raise AmlError(
                "OutputFileDatasetConfig(source=...) is not needed here: the run gets a folder "
                "of its own for the output (its path is the argument); leave source out."
            )
        if partition_format is not None:
            raise AmlError("partition_format is not supported for outputs yet; leave it out.")
        self.name = name
        self.destination = _checked_destination(destination)
        self.source = source
        self._mode = "mount"
        self._overwrite = False
        self._register: dict[str, Any] | None = None

    def _copy(self) -> OutputFileDatasetConfig:
        return copy.copy(self)

    def as_mount(self, disable_metadata_cache: bool = False) -> OutputFileDatasetConfig:
        """v1's default: the script writes to a local folder (here no FUSE: the files are
        uploaded when the run completes, as with ``as_upload``)."""
        out = self._copy()
        out._mode = "mount"
        return out

    def as_upload(
        self, overwrite: bool = False, source_globs: Any = None
    ) -> OutputFileDatasetConfig:
        """Upload the folder's files when the run completes; a file at the destination
        already is an error unless ``overwrite`` (the run then ends Failed, saying which)."""
        if source_globs is not None:
            raise AmlError("as_upload(source_globs=...) is not supported yet; leave it out.")
        out = self._copy()
        out._mode = "upload"
        out._overwrite = bool(overwrite)
        return out

    def register_on_complete(
        self,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> OutputFileDatasetConfig:
        """Register the uploaded files as a new version of file dataset ``name``."""
        check_name(name, "Dataset")
        if tags is not None and not isinstance(tags, Mapping):
            raise AmlError(f"tags is a dict; got {type(tags).__name__}.")
        out = self._copy()
        out._register = {
            "name": name,
            "description": description,
            "tags": {str(k): None if v is None else str(v) for k, v in (tags or {}).items()},
        }
        return out

    def as_input(self, name: str | None = None) -> OutputFileDatasetInput:
        """This output, read by a later step of a pipeline (in its ``arguments`` or
        ``inputs``: the script gets the folder the producing step wrote)."""
        if self.name is None:
            raise AmlError(
                "OutputFileDatasetConfig.as_input() needs the output to have a name: "
                "OutputFileDatasetConfig(name='prepared')."
            )
        return OutputFileDatasetInput(self, name or self.name)

    def _aml_run_output(self, workspace: Workspace, index: int) -> dict[str, Any]:
        """What a run's definition records of this output at submit (JSON, no secrets);
        compute finds this method by its name."""
        datastore, path = self.destination or (None, DEFAULT_PATH)
        if datastore is None:
            from .datastore import Datastore

            datastore = Datastore.get_default(workspace)
        owner = getattr(datastore, "workspace", None)
        if owner is not None and getattr(owner, "folder", None) != workspace.folder:
            raise AmlError(
                f"The output's datastore {datastore.name!r} belongs to another workspace."
            )
        return {
            "name": self.name or f"output_{index}",
            "datastore": datastore.name,
            "path": path,
            "mode": self._mode,
            "overwrite": self._overwrite,
            "register": copy.deepcopy(self._register),
        }

    def __repr__(self) -> str:
        where = "default datastore" if self.destination is None else self.destination[1]
        return f"OutputFileDatasetConfig(name={self.name!r}, destination={where!r})"


class OutputFileDatasetInput:
    """``output.as_input()``: a step's output read by a later step of the same pipeline."""

    def __init__(self, output: OutputFileDatasetConfig, name: str) -> None:
        self.output = output
        self.name = name

    def __repr__(self) -> str:
        return f"OutputFileDatasetInput(name={self.name!r})"


def _checked_destination(destination: Any) -> tuple[Any, str] | None:
    if destination is None:
        return None
    if not isinstance(destination, tuple) or len(destination) != 2:
        raise AmlError(
            "destination is (datastore, 'path/on/datastore'), e.g. "
            "(ws.get_default_datastore(), 'outputs/{run-id}'); got " + repr(destination)
        )
    datastore, path = destination
    if not hasattr(datastore, "filesystem") or not isinstance(
        getattr(datastore, "name", None), str
    ):
        raise AmlError(f"destination's first item is a Datastore; got {datastore!r}.")
    return datastore, destination_path(path)


def destination_path(path: Any) -> str:
    """A destination path: relative, no '..', placeholders only ``{run-id}`` and
    ``{output-name}`` (v1's two)."""
    if not isinstance(path, str) or not path.strip("/ "):
        raise AmlError(f"destination's path is a non-empty string; got {path!r}.")
    unknown = [p for p in _PLACEHOLDER.findall(path) if p not in _KNOWN]
    if unknown or "{" in _PLACEHOLDER.sub("", path) or "}" in _PLACEHOLDER.sub("", path):
        raise AmlError(
            f"destination path {path!r} may hold only the placeholders {{run-id}} and "
            "{output-name}."
        )
    if ".." in path.replace("\\", "/").split("/"):
        raise AmlError(f"destination path {path!r} may not contain '..'.")
    return path


def resolve_path(path: str, run_id: str, output_name: str) -> str:
    """The destination path for one run: the placeholders replaced, no leading '/'."""
    return path.replace("{run-id}", run_id).replace("{output-name}", output_name).strip("/")

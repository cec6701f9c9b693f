"""What flows between a pipeline's steps: ``PipelineData`` (a folder one step writes and
others read) and ``PipelineParameter`` (a value chosen at submit), with v1's names."""

from __future__ import annotations

import re
from typing import Any

from ...errors import AmlError

#: v1's rule for data and parameter names: they become environment variable names.
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
#: The types a parameter's value may have (v1: str, int, float, bool).
PARAMETER_TYPES = (str, int, float, bool)


def check_name(name: Any, what: str) -> str:
    """``name`` if it is a valid data or parameter name, else an :class:`AmlError`."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise AmlError(
            f"{what} name {name!r} is not valid: use letters, digits and '_', starting with a "
            "letter or '_' (it becomes an environment variable name)."
        )
    return name


def check_value(name: str, value: Any, default: Any) -> str | None:
    """Why ``value`` cannot be parameter ``name``'s (typed like ``default``), or None."""
    if not isinstance(value, PARAMETER_TYPES):
        return f"parameter {name!r}: {type(value).__name__} is not a str, int, float or bool"
    if isinstance(value, str) and "\n" in value:
        return f"parameter {name!r}: multi-line strings are not allowed"
    if isinstance(default, bool) and not isinstance(value, bool):
        return f"parameter {name!r} takes a bool, got {value!r}"
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"parameter {name!r} takes a number, got {value!r}"
        if isinstance(default, int) and isinstance(value, float) and not value.is_integer():
            return f"parameter {name!r} takes an int, got {value!r}"
    return None


class PipelineData:
    """A folder produced by one step (in its ``outputs``) and read by others (``inputs``).

    Each producing step run gets its own folder, ``azureml/<step run id>/<name>`` on the
    datastore (the workspace's default), created before the script starts. The script finds
    its path in its arguments and in ``$AZUREML_DATAREFERENCE_<name>``.
    """

    def __init__(
        self,
        name: str,
        datastore: Any = None,
        output_name: str | None = None,
        output_mode: str = "mount",
        output_path_on_compute: str | None = None,
        output_overwrite: bool | None = None,
        data_type: str | None = None,
        is_directory: bool | None = None,
        pipeline_output_name: str | None = None,
        training_output: Any = None,
    ) -> None:
        self._name = check_name(name, "PipelineData")
        if output_mode not in ("mount", "upload"):
            raise AmlError(f"output_mode must be 'mount' or 'upload', got {output_mode!r}.")
        self.datastore = datastore
        self._output_name = output_name or name
        self._output_mode = output_mode
        self._producer: Any = None  # the step whose outputs hold it (set by the step)

    @property
    def name(self) -> str:
        return self._name

    def get_env_variable_name(self) -> str:
        """``AZUREML_DATAREFERENCE_<name>``: where the script finds the folder's path."""
        return f"AZUREML_DATAREFERENCE_{self._name}"

    def as_input(self, input_name: str | None = None) -> PipelineData:
        """v1's way to name the consuming side; locally the folder is the same."""
        return self

    def as_mount(self, input_name: str | None = None) -> PipelineData:
        return self

    def as_download(self, input_name: str | None = None, **_: Any) -> PipelineData:
        return self

    def __str__(self) -> str:
        return f"$AZUREML_DATAREFERENCE_{self._name}"

    def __repr__(self) -> str:
        return f"PipelineData(name={self._name!r})"


class PipelineParameter:
    """A value chosen when the pipeline is submitted (``pipeline_parameters={name: value}``),
    ``default_value`` otherwise; usable in a step's ``arguments``."""

    def __init__(self, name: str, default_value: Any) -> None:
        self.name = check_name(name, "PipelineParameter")
        problem = check_value(name, default_value, None)
        if problem:
            raise AmlError(f"PipelineParameter default_value: {problem}.")
        self.default_value = default_value

    def __repr__(self) -> str:
        return f"PipelineParameter(name={self.name!r}, default_value={self.default_value!r})"

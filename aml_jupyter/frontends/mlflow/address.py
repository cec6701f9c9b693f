"""``aml:`` addresses: a workspace (tracking URI) and a run's artifacts (artifact URI).

* tracking: ``aml:///abs/folder`` (absolute), ``aml://rel/folder`` (from the current folder),
  ``aml:`` (the workspace ``Workspace.from_config()`` finds: ``$AML_WORKSPACE``, then the
  current folder and its parents);
* artifacts: ``aml://<workspace folder>/runs/<run id>/<prefix>``: the run's files under
  ``<prefix>`` (``outputs`` for a run's artifact root; MLflow appends paths to it).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote, unquote

from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST

from ...errors import AmlError
from ...paths import checked_relative_name
from ...tracking.workspace import DB_NAME, Workspace

SCHEME = "aml"
#: Where a run's MLflow artifacts are among its files.
ARTIFACT_ROOT = "outputs"


class AmlMlflowError(AmlError, MlflowException):
    """An :class:`AmlError` that MLflow's own code also recognises (by its error code)."""

    def __init__(self, message: str, error_code: int = INVALID_PARAMETER_VALUE) -> None:
        MlflowException.__init__(self, message, error_code=error_code)


def not_found(message: str) -> AmlMlflowError:
    return AmlMlflowError(message, RESOURCE_DOES_NOT_EXIST)


def _path_part(uri: str) -> str:
    if not isinstance(uri, str) or not uri.startswith(SCHEME + ":"):
        raise AmlMlflowError(f"{uri!r} is not an aml: address (e.g. aml:///path/to/.aml).")
    rest = uri[len(SCHEME) + 1 :]
    if rest.startswith("//"):
        rest = rest[2:]
    path = unquote(rest.split("?", 1)[0].split("#", 1)[0])
    if "\x00" in path:
        raise AmlMlflowError(f"{uri!r}: a path cannot hold a NUL character.")
    return path


def workspace_of(tracking_uri: str) -> Workspace:
    """The workspace a tracking URI names, or an error saying how to get a right one."""
    path = _path_part(tracking_uri)
    if not path:
        folder = Workspace.find()
        if folder is None:
            raise AmlMlflowError(
                f"MLflow tracking URI {tracking_uri!r}: no .aml workspace in the current folder "
                "or its parents and AML_WORKSPACE is not set. Use "
                "mlflow.set_tracking_uri(ws.get_mlflow_tracking_uri()) or create one with "
                "`aml workspace create`."
            )
        path = str(folder)
    try:
        return Workspace(path)
    except (AmlError, OSError) as exc:
        raise AmlMlflowError(
            f"MLflow tracking URI {tracking_uri!r}: {exc} The address to use comes from "
            "ws.get_mlflow_tracking_uri()."
        ) from None


def tracking_uri_of(ws: Workspace) -> str:
    return ws.get_mlflow_tracking_uri()


def artifact_uri(ws: Workspace, run_id: str, prefix: str = ARTIFACT_ROOT) -> str:
    return f"{tracking_uri_of(ws)}/runs/{quote(run_id)}/{quote(prefix)}"


def parse_artifact_uri(uri: str) -> tuple[Workspace, str, str]:
    """``(workspace, run id, file prefix)`` of an artifact URI (see the module docstring)."""
    path = _path_part(uri).rstrip("/")
    start = 0
    while (at := path.find("/runs/", start)) >= 0:
        start = at + 1
        if (Path(path[:at]) / DB_NAME).is_file():
            run_id, _, prefix = path[at + len("/runs/") :].partition("/")
            if run_id:
                try:
                    prefix = checked_relative_name(prefix, "artifact path")
                except AmlError as exc:
                    raise AmlMlflowError(f"Artifact URI {uri!r}: {exc}") from None
                return Workspace(path[:at]), run_id, prefix
    raise AmlMlflowError(
        f"Artifact URI {uri!r} names no run of a workspace (aml://<workspace>/runs/<run id>/"
        "outputs...): the workspace may have been moved or deleted."
    )

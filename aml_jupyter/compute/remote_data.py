"""A remote run's datasets at submit: its grants (and shipped files) sent with the run.

The data layer resolves each input file into what the node can read without a datastore key
(``run_data.grants``: signed read-only URLs, or bytes shipped content-addressed); this module
only carries the result, in a file inside the run's upload, never in the run definition, a
Ray job's entrypoint, runtime_env or metadata, or a log line. The definition gets
``remoteData``: the grants' blob hash (a compute instance) or the data package's tag (a Ray
job, :mod:`.cluster.data_package`), which tell the node where to look and hold nothing
secret.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..tracking import plugins
from .local.run_data import uses_data

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace
    from .instance.client import AgentClient


def resolve(ws: Workspace, definition: dict[str, Any], limit: int | None) -> Any:
    """The data layer's resolution (grants bytes, shipped blobs), ``limit`` on shipped bytes."""
    return plugins.load("run_data.grants")(ws, definition, limit)


def send_to_agent(ws: Workspace, client: AgentClient, definition: dict[str, Any]) -> None:
    """Upload the shipped files the agent lacks, then the grants file as a blob of its own
    (sent from memory, never written here)."""
    if not uses_data(definition):
        return
    resolution = resolve(ws, definition, None)
    client.upload(ws, resolution.shipped)
    definition["remoteData"] = {"grants": client.put_bytes(resolution.grants)}

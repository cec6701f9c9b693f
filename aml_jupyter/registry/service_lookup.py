"""Finding services: which class serves each kind, a service's record by name, v1's
``Webservice.list`` filters, and what ``update`` changes of a service's labels."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ..errors import WebserviceException
from .model_lookup import property_filters, tag_filters
from .names import check_name

if TYPE_CHECKING:
    from ..store.types import ServiceRecord
    from ..tracking.workspace import Workspace
    from .webservice import Webservice

#: The class of each kind of service (its spec's ``compute_type``), imported when asked for.
KINDS = {
    "Local": "aml_jupyter.registry.webservice:LocalWebservice",
    "ACI": "aml_jupyter.registry.aci:AciWebservice",
}


def kind_class(kind: str) -> type[Webservice]:
    module, _, name = KINDS.get(kind, KINDS["Local"]).partition(":")
    found: type[Webservice] = getattr(importlib.import_module(module), name)
    return found


def record_of(workspace: Workspace, name: str) -> ServiceRecord:
    """The service's record, or an error naming the services there are."""
    record = workspace.store.get_service(check_name(name, "Service"))
    if record is None:
        known = [r.name for r in workspace.store.list_services()]
        raise WebserviceException(
            f"No service {name!r} in this workspace. Services: "
            f"{', '.join(known) if known else 'none (Model.deploy makes one)'}."
        )
    return record


def matches(
    service: Webservice,
    compute_type: str | None,
    model_name: str | None,
    model_id: str | None,
    tags: Any,
    properties: Any,
) -> bool:
    """Whether ``service`` passes v1's ``Webservice.list`` filters."""
    if compute_type and service.compute_type.lower() != compute_type.lower():
        return False
    if model_id and model_id not in service.models:
        return False
    if model_name and not any(m.split(":")[0] == model_name for m in service.models):
        return False
    have = service.tags
    if any(k not in have or (v is not None and have[k] != v) for k, v in tag_filters(tags)):
        return False
    return all(service.properties.get(k) == v for k, v in property_filters(properties))


def label_changes(
    current_properties: dict[str, Any], tags: Any, properties: Any, description: str | None
) -> dict[str, Any]:
    """What ``update(tags=, properties=, description=)`` writes into the spec: tags replaced,
    properties added (a key that exists keeps its value, as v1), the description."""
    changes: dict[str, Any] = {}
    if tags is not None:
        if not isinstance(tags, dict):
            raise WebserviceException(f"tags must be a dict, got {type(tags).__name__}.")
        changes["tags"] = {str(k): str(v) for k, v in tags.items()}
    if properties is not None:
        if not isinstance(properties, dict):
            raise WebserviceException(
                f"properties must be a dict, got {type(properties).__name__}."
            )
        changes["properties"] = {
            **{str(k): str(v) for k, v in properties.items()},
            **current_properties,
        }
    if description is not None:
        changes["description"] = str(description)
    return changes


__all__ = ["KINDS", "kind_class", "label_changes", "matches", "record_of"]

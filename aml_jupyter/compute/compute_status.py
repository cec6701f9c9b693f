"""What ``target.get_status()`` returns: the state as text, with v1's fields beside it.

v1 returned a status object (``AmlComputeStatus``: ``provisioning_state``,
``current_node_count``, ``node_state_counts``...; ``ComputeInstanceStatus``: ``state``...),
while code written for this package compares ``get_status() == "Running"``. A ``str`` with
attributes serves both.
"""

from __future__ import annotations

from typing import Any


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class ComputeStatus(str):
    """The state word (``Running``, ``Stopped``, ``Succeeded``...) with v1's status fields
    as attributes (``status.provisioning_state``, ``status.current_node_count``)."""

    _fields: dict[str, Any]

    def __new__(cls, state: str, **fields: Any) -> ComputeStatus:
        self = super().__new__(cls, state)
        self._fields = dict(fields)
        return self

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("_fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(f"{type(self).__name__!s} has no field {name!r}")

    @property
    def state(self) -> str:
        return str(self)

    def serialize(self) -> dict[str, Any]:
        """The fields in v1's camelCase, nested objects included."""

        def out(value: Any) -> Any:
            if isinstance(value, dict):
                return {_camel(k): out(v) for k, v in value.items()}
            return value

        return {"state": str(self), **out(self._fields)}

    def __repr__(self) -> str:
        return f"ComputeStatus({str(self)!r}, {self._fields!r})"


__all__ = ["ComputeStatus"]

"""A run's tags (set, overwritten, removed) and its properties (write-once): methods of
:class:`aml_jupyter.Run`, by v1's names (``tag``, ``set_tags``, ``add_properties``, ...).

The run keeps what it last read, so ``run.tags`` asks no store; a write updates that copy
the way the store did, and ``get_tags()``/``get_properties()`` read again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..store.limits import check_tags

if TYPE_CHECKING:
    from ..store.types import RunRecord
    from .workspace import Workspace


class RunTags:
    """``tag``, ``set_tags``, ``get_tags``, ``remove_tags``, ``add_properties``,
    ``get_properties``."""

    _ws: Workspace
    _id: str
    _record: RunRecord
    _properties: dict[str, str] | None

    if TYPE_CHECKING:

        def _say(self, text: str) -> None: ...

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag (a key with no value is allowed)."""
        self.set_tags({key: value})
        self._say(f"Attempted to add tag {key} with value {value}")

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Add or overwrite several tags."""
        self._ws.store.set_tags(self._id, tags)
        if self._record.tags is not None:
            self._record = self._record.with_tags({**self._record.tags, **check_tags(tags)})

    def get_tags(self) -> dict[str, str | None]:
        """All tags, read now."""
        tags = self._ws.store.get_tags(self._id)
        self._record = self._record.with_tags(tags)
        return dict(tags)

    def remove_tags(self, tags: Iterable[str] | str) -> None:
        """Remove tags by key."""
        keys = [tags] if isinstance(tags, str) else list(tags)
        self._ws.store.remove_tags(self._id, keys)
        if self._record.tags is not None:
            kept = {k: v for k, v in self._record.tags.items() if k not in keys}
            self._record = self._record.with_tags(kept)

    def add_properties(self, properties: dict[str, Any]) -> None:
        """Add immutable properties; changing an existing one raises :class:`AmlError`."""
        self._ws.store.add_properties(self._id, properties)
        if self._properties is not None:
            added = check_tags(properties, what="property")
            self._properties = {**{k: str(v) for k, v in added.items()}, **self._properties}

    def get_properties(self) -> dict[str, str]:
        """All properties (git state, snapshot id, …), read now."""
        self._properties = self._ws.store.get_properties(self._id)
        return dict(self._properties)

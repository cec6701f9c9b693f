"""A run's children: methods of :class:`aml_jupyter.Run` (v1 names: ``child_run``,
``create_children``, ``submit_child``, ``get_children``)."""

from __future__ import annotations

import builtins
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..status import RunStatus
from ..store.types import RunRecord
from . import targets

if TYPE_CHECKING:
    from .experiment import Experiment
    from .run import Run
    from .workspace import Workspace

#: The run type of a child started in this process (``child_run``).
CHILD_RUN = "child"


def _tag_filter(tags: Any) -> dict[str, str | None] | None:
    """v1 accepts a key, a list of keys or a dict of key/value for tag filters."""
    if tags is None:
        return None
    if isinstance(tags, str):
        return {tags: None}
    if isinstance(tags, dict):
        return {str(k): None if v is None else str(v) for k, v in tags.items()}
    return {str(k): None for k in tags}


class RunChildren:
    """``child_run``, ``create_children``, ``submit_child``, ``get_children``."""

    _ws: Workspace
    _id: str
    _experiment: Experiment
    _record: RunRecord
    _echo: bool

    def child_run(
        self, name: str | None = None, run_id: str | None = None, outputs: Any = None
    ) -> Run:
        """Start a child run in this process; use it as a context manager to end it."""
        child_id = self._ws.store.create_run(
            self._experiment.name,
            CHILD_RUN,
            RunStatus.RUNNING,
            run_id=run_id,
            parent_id=self._id,
            display_name=name,
            target=self._record.target,
        )
        targets.claim_this_process(self._ws, child_id)  # it ends Failed if this process dies
        cls: Any = type(self)  # a subclass's children are of that subclass too
        child: Run = cls(self._experiment, child_id)
        child._echo = self._echo
        return child

    def create_children(
        self,
        count: int | None = None,
        tag_key: str | None = None,
        tag_values: builtins.list[str] | None = None,
    ) -> builtins.list[Run]:
        """Create ``count`` children (or one per tag value, tagged ``tag_key``)."""
        if tag_values is not None:
            if not tag_key:
                raise AmlError("create_children(tag_values=...) needs tag_key= too.")
            children: builtins.list[Run] = []
            for value in tag_values:
                child = self.child_run()
                child.tag(tag_key, value)
                children.append(child)
            return children
        if count is None or count < 0:
            raise AmlError("create_children needs count= (a number >= 0) or tag_key/tag_values.")
        return [self.child_run() for _ in range(count)]

    def submit_child(self, config: Any, tags: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        """Submit ``config`` (a :class:`ScriptRunConfig`, …) as a child of this run, on the
        config's own compute target; it is listed by :meth:`get_children` and its ``parent``
        is this run. Returns the child at once, as ``Experiment.submit`` does."""
        from .submitting import submit

        return submit(
            config, self._ws, self._experiment.name, tags=tags, _parent_run_id=self._id, **kwargs
        )

    def get_children(
        self,
        recursive: bool = False,
        tags: Any = None,
        properties: dict[str, str] | None = None,
        type: str | None = None,
        status: str | None = None,
        _rehydrate_runs: bool = True,
    ) -> Iterator[Run]:
        """The run's children, newest first (all descendants with ``recursive=True``)."""
        from .run import run_class

        records = self._ws.store.list_runs(
            parent_id=self._id,
            tags=_tag_filter(tags),
            properties=properties,
            run_type=type,
            status=status,
            with_tags=True,
        )
        for record in targets.check_active_runs(self._ws, records):
            child = run_class(record.run_type)._of(self._experiment, record)  # a StepRun ...
            yield child
            if recursive:
                yield from child.get_children(recursive=True, tags=tags, type=type, status=status)

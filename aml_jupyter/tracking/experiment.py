"""``Experiment``: a named group of runs in a workspace."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from .run import Run
    from .workspace import Workspace

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,199}$")


def check_experiment_name(name: str) -> str:
    """Experiment names as in v1, but at most 200 long: letters, digits, '-' or '_', not
    starting with - or _ (v1 allowed 255; a run id adds ~20 and must fit one file name)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise AmlError(
            f"Experiment name {name!r} is not allowed: use 1-200 letters, digits, '-' and '_', "
            "starting with a letter or digit (e.g. 'train-mnist')."
        )
    return name


class ViewType:
    """Which experiments ``Experiment.list`` shows, as v1 names them (its ``view_type``)."""

    ACTIVE_ONLY = "ActiveOnly"
    ARCHIVED_ONLY = "ArchivedOnly"
    ALL = "All"


#: ``view_type`` -> the archived filter of ``find_experiments`` (None: both).
_VIEWS: dict[str, bool | None] = {"activeonly": False, "archivedonly": True, "all": None}


def archived_filter(view_type: str) -> bool | None:
    """v1's ``view_type`` as the archived filter: False (active only), True or None (all)."""
    archived = _VIEWS.get(str(view_type).replace("_", "").lower(), "?")
    if archived == "?":
        raise AmlError(
            f"view_type={view_type!r} is not one of ViewType.ACTIVE_ONLY ('ActiveOnly'), "
            "ViewType.ARCHIVED_ONLY ('ArchivedOnly') or ViewType.ALL ('All')."
        )
    return archived  # type: ignore[return-value]


class Experiment:
    """A named set of runs. ``Experiment(ws, name)`` creates it if it does not exist yet."""

    def __init__(
        self, workspace: Workspace, name: str, _check_name: bool = True, **kwargs: Any
    ) -> None:
        self.workspace = workspace
        self.name = check_experiment_name(name) if _check_name else name
        if _check_name:
            workspace.store.ensure_experiment(self.name)

    @staticmethod
    def list(
        workspace: Workspace,
        experiment_name: str | None = None,
        view_type: str = "ActiveOnly",
        tags: Any = None,
    ) -> list[Experiment]:
        """The workspace's experiments (or just ``experiment_name``), oldest first.

        ``view_type``: :class:`ViewType` ``ACTIVE_ONLY`` (default), ``ARCHIVED_ONLY`` or
        ``ALL``. ``tags``: a key, a list of keys or a dict of key/value (None: any value);
        an experiment must have all of them.
        """
        from .run_children import _tag_filter

        archived = archived_filter(view_type)
        records = workspace.store.find_experiments(
            name=experiment_name,
            archived=archived,
            tags=_tag_filter(tags),
        )
        return [Experiment(workspace, r.name, _check_name=False) for r in records]

    # tags and archiving ---------------------------------------------------------------------
    @property
    def tags(self) -> dict[str, str | None]:
        """The experiment's tags (read now)."""
        return self.workspace.store.experiment_tags(self.name)

    def tag(self, key: str, value: Any = None) -> None:
        """Set one tag (a key with no value is allowed)."""
        self.set_tags({key: value})

    def set_tags(self, tags: dict[str, Any]) -> None:
        """Add or overwrite tags."""
        self.workspace.store.set_experiment_tags(self.name, tags)

    def remove_tags(self, tags: Any) -> None:
        """Delete tags by key (a key or a list of keys)."""
        keys = [tags] if isinstance(tags, str) else list(tags)
        self.workspace.store.remove_experiment_tags(self.name, keys)

    @property
    def archived(self) -> bool:
        """Whether the experiment is archived (read now)."""
        return bool(self.workspace.store.find_experiments(name=self.name, archived=True))

    def archive(self) -> None:
        """Hide the experiment from ``Experiment.list`` and ``ws.experiments`` by default;
        its runs stay, readable and listed by ``get_runs``."""
        self.workspace.store.set_experiment_archived(self.name, True)

    def reactivate(self, new_name: str | None = None) -> None:
        """Undo :meth:`archive`. Names stay unique here (v1 let a new experiment take an
        archived one's name), so ``new_name`` may only repeat the experiment's own name."""
        if new_name not in (None, self.name):
            raise AmlError(
                f"reactivate(new_name={new_name!r}): experiment names are unique in a local "
                f"workspace, so {self.name!r} keeps its name; call reactivate() without it."
            )
        self.workspace.store.set_experiment_archived(self.name, False)

    def submit(self, config: Any, tags: dict[str, Any] | None = None, **kwargs: Any) -> Run:
        """Start ``config`` as a new run and return it at once (it runs on without you).

        ``config`` is a :class:`ScriptRunConfig` or any other type registered with
        ``experiment_method`` (see :mod:`aml_jupyter.tracking.submitting`); ``kwargs`` go to
        its submit function.
        """
        from .submitting import submit

        return submit(config, self.workspace, self.name, tags=tags, **kwargs)

    def start_logging(
        self,
        *args: Any,
        name: str | None = None,
        display_name: str | None = None,
        run_id: str | None = None,
        outputs: str | os.PathLike[str] | None = "outputs",
        snapshot_directory: str | os.PathLike[str] | None = ".",
        **kwargs: Any,
    ) -> Run:
        """Start an interactive run in this process (end it with ``run.complete()``).

        The snapshot of ``snapshot_directory`` follows the submit rules (virtualenvs and the
        workspace are never included; pass ``snapshot_directory=None`` to skip it). Files in
        ``outputs`` are kept with the run when it completes.
        """
        from .context import start_interactive_run

        return start_interactive_run(
            self,
            display_name=display_name or name,
            run_id=run_id,
            outputs=outputs,
            snapshot_directory=snapshot_directory,
        )

    def get_runs(
        self,
        type: str | None = None,
        tags: Any = None,
        properties: dict[str, str] | None = None,
        include_children: bool = False,
        status: str | None = None,
    ) -> Iterator[Run]:
        """This experiment's runs, newest first (a generator, like v1); each run comes with
        its record and tags, read for all of them at once, and as its kind's class (a
        pipeline's run is a ``PipelineRun``, as ``Run.get`` gives)."""
        from .run import run_class
        from .run_children import _tag_filter
        from .targets import check_active_runs

        records = self.workspace.store.list_runs(
            experiment=self.name,
            run_type=type,
            tags=_tag_filter(tags),
            properties=properties,
            include_children=include_children,
            status=status,
            with_tags=True,
        )
        # Active runs' targets look at them first: one whose owner died comes back ended.
        for record in check_active_runs(self.workspace, records):
            yield run_class(record.run_type)._of(self, record)  # a PipelineRun as one

    @property
    def id(self) -> str:
        """The experiment's name (unique in the workspace)."""
        return self.name

    def __repr__(self) -> str:
        return f"Experiment(Name: {self.name}, Workspace: {self.workspace.name})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Experiment) and (other.workspace, other.name) == (
            self.workspace,
            self.name,
        )

    def __hash__(self) -> int:
        return hash((self.workspace, self.name))


def default_experiment_name() -> str:
    """An experiment name for a run started outside a submit: the main script's name."""
    import __main__

    main_file = getattr(__main__, "__file__", None)
    stem = Path(main_file).stem if main_file else "interactive"
    if stem in ("ipykernel_launcher", "__main__", "kernel_launcher"):
        stem = "notebook"  # a Jupyter kernel: its launcher's name means nothing to the user
    clean = re.sub(r"[^A-Za-z0-9_\-]", "-", stem).lstrip("-_") or "interactive"
    return clean[:255]

"""What file and tabular datasets share (v1's ``AbstractDataset``): a definition (sources,
format, transforms), registration as named versions pinned to content, tags, lookups.

**A registered version is pinned to its bytes.** Registering lists the files and records each
one's size and sha256 (hashed once, then cached by stat: see :mod:`.fingerprint`). Reading a
registered version (``to_pandas_dataframe``, ``download``, ``mount``, ``to_path`` ...) first
checks that the files are still those bytes, and if not raises an :class:`AmlError` naming the
changed, missing and added files. An error, not a warning: v1's worst data bug was reading
other data than the notebook thought (a warning scrolls by in a training loop's output, and a
model trained on it is silently wrong); the check costs a listing and a cache lookup when
nothing changed. ``verify()`` runs the same check alone; registering the files as they are
now (``create_new_version=True``) or restoring them resolves it.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..registry.names import check_name
from ..store.datasets import SAVED_PREFIX
from .datastore import get_datastore
from .fingerprint import changes, fingerprint, hash_entries
from .sources import FileEntry, Resolved, describe, list_sources

if TYPE_CHECKING:
    from ..store.types import DatasetRecord
    from ..tracking.workspace import Workspace
    from .consumption import DatasetConsumptionConfig
    from .datastore import Datastore

#: How a stored file list is read back: ``(name, size, sha256)``.
FileRow = tuple[str, int, str]


class AbstractDataset:
    """A dataset: where its files are and how to read them; registered or not."""

    #: ``file`` or ``tabular`` (the store's kind, one per name).
    _kind = ""

    def __init__(
        self,
        definition: Mapping[str, Any],
        *,
        datastores: Mapping[str, Datastore] | None = None,
        workspace: Workspace | None = None,
        record: DatasetRecord | None = None,
        pinned: list[FileRow] | None = None,
        origin: str | None = None,
    ) -> None:
        self._definition: dict[str, Any] = copy.deepcopy(dict(definition))
        self._definition.setdefault("transforms", [])
        self._datastores = dict(datastores or {})
        self._workspace = workspace
        self._record = record
        self._pinned = pinned
        #: The registered version a derived dataset's pinned files come from (for messages).
        self._origin = origin or (
            f"version {record.version} of dataset {record.name!r}" if record else None
        )

    # identity (v1's properties) -------------------------------------------------------------
    @property
    def name(self) -> str | None:
        """The registered name (None until registered, also once a run saved it)."""
        if self._record is None or self._record.name.startswith(SAVED_PREFIX):
            return None
        return self._record.name

    @property
    def version(self) -> int | None:
        """The registered version (None until registered)."""
        return self._record.version if self._record else None

    @property
    def id(self) -> str | None:
        """The registered version's id (None until registered)."""
        return self._record.id if self._record else None

    @property
    def description(self) -> str | None:
        return self._record.description if self._record else None

    @property
    def tags(self) -> dict[str, str | None]:
        return dict(self._record.tags) if self._record else {}

    @property
    def workspace(self) -> Workspace | None:
        return self._workspace

    @property
    def definition(self) -> dict[str, Any]:
        """What this dataset reads, as stored with a registered version (a copy)."""
        return copy.deepcopy(self._definition)

    def __repr__(self) -> str:
        sources = ", ".join(describe(s) for s in self._definition["sources"])
        if self._record:
            return (
                f"{type(self).__name__}(name={self.name!r}, version={self.version}, "
                f"id={self.id!r}, files={self._record.file_count}, source=[{sources}])"
            )
        return f"{type(self).__name__}(source=[{sources}])"

    # derived datasets -------------------------------------------------------------------------
    def _derive(self, transform: Mapping[str, Any]) -> Any:
        """A new, unregistered dataset: this one with one more transform. It keeps this one's
        pinned files: it reads the same sources, so the same check applies."""
        definition = self.definition
        definition["transforms"].append(dict(transform))
        return type(self)(
            definition,
            datastores=self._datastores,
            workspace=self._workspace,
            pinned=self._pinned_files(),
            origin=self._origin,
        )

    # files --------------------------------------------------------------------------------
    def _datastore_map(self) -> dict[str, Datastore]:
        found = dict(self._datastores)
        for source in self._definition["sources"]:
            name = source.get("datastore")
            if name and name not in found and self._workspace is not None:
                found[name] = get_datastore(self._workspace, name)
        return found

    def _list(self, strict: bool = True) -> list[tuple[Resolved, FileEntry]]:
        files, _ = list_sources(self._definition["sources"], self._datastore_map(), strict=strict)
        return files

    def _store(self) -> Any:
        return self._workspace.store if self._workspace is not None else None

    def _pinned_files(self) -> list[FileRow] | None:
        if self._pinned is None and self._record is not None and self._workspace is not None:
            self._pinned = [
                (f.path, f.size, f.sha256)
                for f in self._workspace.store.dataset_files(self._record.id)
            ]
        return self._pinned

    def _checked_files(self) -> list[tuple[Resolved, FileEntry]]:
        """The files to read: for a registered version, checked against what it was
        registered with (see the module's docstring); unregistered, as they are now."""
        pinned = self._pinned_files()
        if pinned is None:
            return self._list(strict=True)
        files = self._list(strict=False)
        if _same_names_and_sizes(pinned, files):
            rows = self._rows(files)
            if rows == pinned:  # the common case: both are in name order
                return files
        else:
            rows = _unhashed(pinned, files)
        diff = changes(pinned, rows)
        if any(diff.values()):
            raise AmlError(self._changed_message(diff))
        return files

    def _rows(self, files: list[tuple[Resolved, FileEntry]]) -> list[FileRow]:
        hashes = hash_entries(self._store(), files)
        return [(e.rel, e.size, h) for (_, e), h in zip(files, hashes, strict=True)]

    def _changed_message(self, diff: dict[str, list[str]]) -> str:
        what = self._origin or "the dataset"
        parts = [
            f"{label}: {_names(diff[key])}"
            for key, label in (("changed", "changed"), ("missing", "missing"), ("added", "new"))
            if diff[key]
        ]
        return (
            f"The files of {what} are no longer the bytes it was registered with ("
            + "; ".join(parts)
            + "). Restore them, or register them as they are now with "
            "register(ws, name, create_new_version=True)."
        )

    def verify(self) -> None:
        """Check that a registered version's files are still the bytes it was registered with
        (an :class:`AmlError` naming the changed files if not); unregistered: nothing to do."""
        self._checked_files()

    # registration -------------------------------------------------------------------------
    def register(
        self,
        workspace: Workspace,
        name: str,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        create_new_version: bool = False,
    ) -> Any:
        """Register this dataset as ``name`` in ``workspace`` and return the registered version.

        The same definition and the same bytes as the latest version give that version back;
        otherwise an existing name needs ``create_new_version=True`` (as v1). The files are
        listed and hashed first (no files: an :class:`AmlError`), then everything is recorded
        at once: nothing is half-registered."""
        check_name(name, "Dataset")
        if tags is not None and not isinstance(tags, Mapping):
            raise AmlError(f"tags is a dict; got {type(tags).__name__}.")
        me = self._in(workspace)
        files = me._list(strict=True)
        rows = me._rows(files)
        for rel, _, _ in rows:
            try:
                rel.encode("utf-8")
            except UnicodeEncodeError:
                raise AmlError(
                    f"The file name {rel!r} is not UTF-8: rename it to register the dataset."
                ) from None
        record, _ = workspace.store.add_dataset(
            name,
            self._kind,
            self._definition,
            rows,
            fingerprint=fingerprint(rows),
            description=description,
            tags=tags,
            create_new_version=bool(create_new_version),
        )
        return _from_record(workspace, record, pinned=None)

    def _in(self, workspace: Workspace) -> AbstractDataset:
        """This definition read in ``workspace`` (its datastores found by name there)."""
        for name, store in self._datastores.items():
            owner = getattr(store, "workspace", None)
            if owner is not None and getattr(owner, "folder", None) != workspace.folder:
                raise AmlError(
                    f"Datastore {name!r} belongs to another workspace ({owner.folder}); "
                    "register the dataset in that workspace."
                )
        return type(self)(self._definition, datastores=self._datastores, workspace=workspace)

    def _registered(self, what: str) -> DatasetRecord:
        if self._record is None or self._workspace is None:
            raise AmlError(f"{what} needs a registered dataset: call register(ws, name) first.")
        return self._record

    def _refresh(self) -> None:
        record = self._registered("Reading it back")
        fresh = self._workspace.store.get_dataset_by_id(record.id)  # type: ignore[union-attr]
        if fresh is None:
            raise AmlError(f"Dataset {record.name!r} version {record.version} was unregistered.")
        self._record = fresh

    def add_tags(self, tags: Mapping[str, Any] | None = None) -> Any:
        """Add (or replace) tags of this registered version; returns the dataset."""
        record = self._registered("add_tags")
        if tags:
            self._workspace.store.set_dataset_tags(record.id, dict(tags))  # type: ignore[union-attr]
        self._refresh()
        return self

    def remove_tags(self, tags: Iterable[str] | None = None) -> Any:
        """Remove tags (by key) of this registered version; returns the dataset."""
        record = self._registered("remove_tags")
        keys = [tags] if isinstance(tags, str) else list(tags or [])
        self._workspace.store.remove_dataset_tags(record.id, keys)  # type: ignore[union-attr]
        self._refresh()
        return self

    def update(self, description: str | None = None, tags: Mapping[str, Any] | None = None) -> Any:
        """Replace the description and/or tags of this registered version."""
        record = self._registered("update")
        store = self._workspace.store  # type: ignore[union-attr]
        if description is not None:
            store.set_dataset_description(record.id, description)
        if tags is not None:
            store.remove_dataset_tags(record.id, list(record.tags))
            store.set_dataset_tags(record.id, dict(tags))
        self._refresh()
        return self

    def unregister_all_versions(self) -> None:
        """Forget every version of this dataset's name (the files stay where they are; runs
        keep the record of which version they used)."""
        record = self._registered("unregister_all_versions")
        self._workspace.store.delete_dataset(record.name)  # type: ignore[union-attr]

    # into runs ------------------------------------------------------------------------------
    def as_named_input(self, name: str) -> DatasetConsumptionConfig:
        """This dataset as a run's input called ``name`` (v1's; ``.as_mount()`` /
        ``.as_download()`` on the result choose how the script gets it)."""
        from .consumption import DatasetConsumptionConfig

        return DatasetConsumptionConfig(name, self)

    def _saved(self, workspace: Workspace) -> AbstractDataset:
        """This dataset with an id, for a run to record: itself when registered in
        ``workspace``, else *saved* as v1 did (recorded under a hidden name made from its
        definition, never listed, pinned to its bytes as they are now; the same definition
        and bytes give the same id again)."""
        here = self._workspace is not None and self._workspace.folder == workspace.folder
        if self._record is not None and here:
            return self
        me: AbstractDataset = self if here else self._in(workspace)
        rows = me._rows(me._checked_files())
        key = json.dumps([self._kind, self._definition], sort_keys=True, default=str)
        name = f"{SAVED_PREFIX}saved-{hashlib.sha256(key.encode()).hexdigest()[:32]}"
        record, _ = workspace.store.add_dataset(
            name,
            self._kind,
            self._definition,
            rows,
            fingerprint=fingerprint(rows),
            create_new_version=True,
        )
        return _from_record(workspace, record)

    def _aml_run_input(self, workspace: Workspace, index: int) -> dict[str, Any]:
        """A dataset given as a run's argument: v1's ``as_named_input(<its name>)``, mode
        ``direct`` (``input_<index>`` when unregistered or its name is no variable name)."""
        from .consumption import valid_input_name

        name = self.name if self.name and valid_input_name(self.name) else f"input_{index}"
        return self.as_named_input(name)._aml_run_input(workspace, index)

    # lookups (v1's static methods) ---------------------------------------------------------
    @staticmethod
    def get_by_name(workspace: Workspace, name: str, version: int | str = "latest") -> Any:
        """A registered dataset by name and version (``'latest'`` by default)."""
        if not isinstance(name, str) or not name:
            raise AmlError(f"A dataset name is a non-empty string; got {name!r}.")
        number = _version_number(version)
        store = workspace.store
        record = store.get_dataset(name, number)
        if record is None:
            versions = store.dataset_versions(name)
            if not versions:
                known = [r.name for r in store.list_datasets()]
                raise AmlError(
                    f"No dataset named {name!r} in this workspace; registered: "
                    f"{', '.join(known[:20]) or 'none'}."
                )
            raise AmlError(
                f"Dataset {name!r} has no version {number}; its versions: "
                f"{', '.join(map(str, versions))}."
            )
        return _from_record(workspace, record)

    @staticmethod
    def get_by_id(workspace: Workspace, id: str) -> Any:  # v1's name
        """A registered dataset version by its id."""
        record = workspace.store.get_dataset_by_id(str(id))
        if record is None:
            raise AmlError(f"No dataset version with id {id!r} in this workspace.")
        return _from_record(workspace, record)

    @staticmethod
    def get_all(workspace: Workspace) -> dict[str, Any]:
        """The latest version of every registered dataset, by name (v1's ``ws.datasets``)."""
        return {r.name: _from_record(workspace, r) for r in workspace.store.list_datasets()}


def _version_number(version: Any) -> int | None:
    if version is None or (isinstance(version, str) and version.strip().lower() == "latest"):
        return None
    if isinstance(version, bool):
        raise AmlError(f"A dataset version is a positive number or 'latest'; got {version!r}.")
    if isinstance(version, int) or (isinstance(version, str) and version.strip().isdigit()):
        number = int(version)
        if number >= 1:
            return number
    raise AmlError(f"A dataset version is a positive number or 'latest'; got {version!r}.")


def _from_record(
    workspace: Workspace, record: DatasetRecord, pinned: list[FileRow] | None = None
) -> Any:
    from .file_dataset import FileDataset
    from .tabular_dataset import TabularDataset

    cls = {"file": FileDataset, "tabular": TabularDataset}.get(record.kind)
    if cls is None:
        raise AmlError(f"Dataset {record.name!r} is of a kind this version cannot read.")
    return cls(record.definition, workspace=workspace, record=record, pinned=pinned)


def _same_names_and_sizes(pinned: list[FileRow], files: list[tuple[Resolved, FileEntry]]) -> bool:
    return len(pinned) == len(files) and all(
        row[0] == entry.rel and row[1] == entry.size
        for row, (_, entry) in zip(pinned, files, strict=True)
    )


def _unhashed(pinned: list[FileRow], files: list[tuple[Resolved, FileEntry]]) -> list[FileRow]:
    """A listing that already differs in names or sizes, without reading any file: a file of
    the same name and size keeps its recorded hash (the error names the others)."""
    known = {(n, s): h for n, s, h in pinned}
    return [(e.rel, e.size, known.get((e.rel, e.size), "")) for _, e in files]


def _names(names: list[str], limit: int = 10) -> str:
    shown = ", ".join(names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

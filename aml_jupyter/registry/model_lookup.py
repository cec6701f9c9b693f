"""Finding a model version: ``name:version`` ids, v1's ``tags=`` and ``properties=`` filters,
the one version ``Model(ws, ...)`` names, and a model's copy inside a scoring service
(``AZUREML_MODEL_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError, ModelNotFoundException

if TYPE_CHECKING:
    from ..store.base import WorkspaceStore
    from ..store.types import ModelRecord


def tag_filters(tags: Any) -> list[tuple[str, str | None]]:
    """v1's ``tags=`` filter: ``["key", ["key", "value"], ...]`` (a dict also works)."""
    if tags is None:
        return []
    if isinstance(tags, dict):
        return [(str(k), None if v is None else str(v)) for k, v in tags.items()]
    out: list[tuple[str, str | None]] = []
    for item in tags:
        if isinstance(item, str):
            out.append((item, None))
        elif isinstance(item, (list, tuple)) and len(item) == 2:
            out.append((str(item[0]), str(item[1])))
        else:
            raise AmlError(f"A tag filter is 'key' or ['key', 'value'], got {item!r}.")
    return out


def property_filters(properties: Any) -> list[tuple[str, str]]:
    if properties is None:
        return []
    if isinstance(properties, dict):
        return [(str(k), str(v)) for k, v in properties.items()]
    out = []
    for item in properties:
        if not (isinstance(item, (list, tuple)) and len(item) == 2):
            raise AmlError(f"A property filter is ['key', 'value'], got {item!r}.")
        out.append((str(item[0]), str(item[1])))
    return out


def split_id(name: str, version: int | str | None) -> tuple[str, int | None]:
    """``Model(ws, "iris:3")`` works as ``Model(ws, "iris", 3)``."""
    if version is None and isinstance(name, str) and ":" in name:
        name, _, text = name.rpartition(":")
        version = text
    if version is None:
        return name, None
    try:
        number = int(version)
    except (TypeError, ValueError):
        raise AmlError(f"A model version is a whole number, got {version!r}.") from None
    if number < 1:
        raise AmlError(f"Model versions start at 1, got {number}.")
    return name, number


def find_version(
    store: WorkspaceStore,
    name: str,
    number: int | None,
    tags: Any = None,
    properties: Any = None,
    run_id: str | None = None,
    model_framework: str | None = None,
) -> ModelRecord:
    """The version ``Model(ws, name, version, tags=..., ...)`` names: ``number``, else the
    newest one matching every filter, else the latest; a :class:`ModelNotFoundException`
    naming the models there are when none matches."""
    if number is None and (tags or properties or run_id or model_framework):
        rows = store.find_models(
            name, tag_filters(tags), property_filters(properties), run_id, latest=False
        )
        if model_framework:  # v1 compares frameworks as written, we in any case
            wanted = str(model_framework).lower()
            rows = [r for r in rows if (r.framework or "").lower() == wanted]
        row = rows[0] if rows else None
    else:
        row = store.get_model(name, number)
        wanted = str(model_framework or "").lower()
        if row is not None and wanted and (row.framework or "").lower() != wanted:
            row = None
    if row is None:
        known = sorted({r.name for r in store.find_models()})
        what = f"{name!r}" + (f" version {number}" if number else "")
        if model_framework:
            what += f" with model_framework {model_framework!r}"
        raise ModelNotFoundException(
            f"No model {what} in this workspace. Registered: "
            f"{', '.join(known) if known else 'none yet (Model.register or run.register_model)'}."
        )
    return row


def service_model_path(model_dir: Path, name: str, version: int | None) -> Path | None:
    """The model's file or folder in a service, laid out as v1 does: one model ->
    ``AZUREML_MODEL_DIR`` is ``<name>/<version>``; several -> it holds ``<name>/<version>/``."""
    if model_dir.parent.name == name and model_dir.name.isdigit():
        folder: Path | None = model_dir
        if version is not None and int(model_dir.name) != version:
            folder = None
    else:
        versions = [p for p in (model_dir / name).glob("*") if p.name.isdigit()]
        if version is not None:
            versions = [p for p in versions if int(p.name) == version]
        folder = max(versions, key=lambda p: int(p.name)) if versions else None
    items = list(folder.iterdir()) if folder is not None and folder.is_dir() else []
    return items[0] if len(items) == 1 else None

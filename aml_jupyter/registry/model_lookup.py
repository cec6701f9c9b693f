"""Finding a model version: ``name:version`` ids, v1's ``tags=`` and ``properties=`` filters,
and a model's copy inside a scoring service (``AZUREML_MODEL_DIR``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import AmlError


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

"""``partition_keys`` and ``get_partition_key_values`` of a dataset made with
``partition_format`` (both kinds; see :mod:`.partition_format`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .partition_format import PartitionFormat

if TYPE_CHECKING:
    from .sources import FileEntry, Resolved


class Partitioned:
    """Mixed into :class:`~.abstract_dataset.AbstractDataset`'s kinds."""

    _definition: dict[str, Any]
    if TYPE_CHECKING:  # AbstractDataset's

        def _list(self, strict: bool = True) -> list[tuple[Resolved, FileEntry]]: ...

    def _partition_format(self) -> PartitionFormat | None:
        text = (self._definition.get("format") or {}).get("partition_format")
        text = text or self._definition.get("partition_format")
        return PartitionFormat(text) if text else None

    @property
    def partition_keys(self) -> list[str]:
        """The columns ``partition_format`` takes from the files' paths (none without one)."""
        partition = self._partition_format()
        return partition.names if partition else []

    def get_partition_key_values(self, partition_keys: Sequence[str] | None = None) -> list[dict]:
        """Each distinct combination of the partition columns' values, in file order, as
        ``{column: value}`` (``partition_keys``: only those columns)."""
        partition = self._partition_format()
        if partition is None:
            raise AmlError(
                "This dataset has no partition keys: make it with partition_format=, e.g. "
                "Dataset.Tabular.from_parquet_files(path, partition_format='/{state}/data.parquet')."
            )
        keys = list(partition.names if partition_keys is None else partition_keys)
        unknown = [k for k in keys if k not in partition.names]
        if unknown:
            raise AmlError(
                f"Not partition keys of this dataset: {', '.join(map(str, unknown))} "
                f"(its keys: {', '.join(partition.names)})."
            )
        seen: dict[tuple[Any, ...], dict[str, Any]] = {}
        for _, entry in self._list(strict=True):
            values = partition.values(entry.fs_path)
            picked = {k: values[k] for k in keys}
            seen.setdefault(tuple(picked.values()), picked)
        return list(seen.values())

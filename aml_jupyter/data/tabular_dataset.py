"""``TabularDataset``: delimited, parquet or JSON-lines files read as one table (v1's).

Every transform (``take``, ``skip``, ``random_split``, ``keep_columns``, ``drop_columns``,
``filter``) returns a new, unregistered dataset with the step appended to its definition:
nothing is read until ``to_pandas_dataframe()``, and registering the result keeps the steps.
Reading streams (:mod:`.tabular_read`): ``take(5)`` of a dataset bigger than memory reads the
first batches only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .abstract_dataset import AbstractDataset
from .expressions import Column, Expression
from .partitioned import Partitioned
from .tabular_read import batches, open_dataset, to_table

if TYPE_CHECKING:
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as pds

    from .consumption import DatasetConsumptionConfig


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise AmlError(f"{what} is a whole number, 0 or more; got {value!r}.")
    return value


def _fraction(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise AmlError(f"{what} is a number between 0 and 1; got {value!r}.")
    return float(value)


def _seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise AmlError(f"A seed is a whole number, 0 or more; got {seed!r}.")
    return seed


def split_steps(percentage: Any, seed: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two halves of ``random_split``: the same draws, complementary rows. Without a seed
    one is picked now and recorded, so both halves (and a registered one) stay disjoint."""
    import secrets

    share = _fraction(percentage, "percentage")
    chosen = _seed(seed)
    if chosen is None:
        chosen = secrets.randbelow(2**63)
    first = {"op": "split", "percentage": share, "seed": chosen, "part": 0}
    return first, {**first, "part": 1}


def _names(columns: Any) -> list[str]:
    names = [columns] if isinstance(columns, str) else list(columns or [])
    if not names or not all(isinstance(c, str) and c for c in names):
        raise AmlError(f"Columns are a name or a list of names; got {columns!r}.")
    return names


class TabularDataset(Partitioned, AbstractDataset):
    """Rows and columns read from files (v1's ``TabularDataset``)."""

    _kind = "tabular"

    # transforms -----------------------------------------------------------------------------
    def __getitem__(self, column: str) -> Column:
        """``ds['col']``: a column to compare in :meth:`filter`."""
        return Column(column)

    def keep_columns(self, columns: str | list[str], validate: bool = False) -> TabularDataset:
        """Only these columns (a missing one is an error when the dataset is read)."""
        return self._derive({"op": "keep_columns", "columns": _names(columns)})

    def drop_columns(self, columns: str | list[str]) -> TabularDataset:
        """All columns but these."""
        return self._derive({"op": "drop_columns", "columns": _names(columns)})

    def filter(self, expression: Expression) -> TabularDataset:
        """Rows where ``expression`` holds: ``ds.filter((ds['age'] > 30) & (ds['city'] ==
        'Oslo'))``; comparisons combined with & | ~ only."""
        if not isinstance(expression, Expression) or isinstance(expression, Column):
            raise AmlError(
                "filter takes a condition on columns, such as ds.filter(ds['age'] > 30); "
                f"got {expression!r}."
            )
        return self._derive({"op": "filter", "expression": expression.tree})

    def take(self, count: int) -> TabularDataset:
        """The first ``count`` rows."""
        return self._derive({"op": "take", "count": _count(count, "count")})

    def skip(self, count: int) -> TabularDataset:
        """All rows after the first ``count``."""
        return self._derive({"op": "skip", "count": _count(count, "count")})

    def take_sample(self, probability: float, seed: int | None = None) -> TabularDataset:
        """Each row kept with ``probability`` (deterministic with a seed)."""
        first, _ = split_steps(probability, seed)
        return self._derive(first)

    def random_split(
        self, percentage: float, seed: int | None = None
    ) -> tuple[TabularDataset, TabularDataset]:
        """Two datasets: about ``percentage`` of the rows, and the others (disjoint; the same
        split again with the same seed)."""
        first, second = split_steps(percentage, seed)
        return self._derive(first), self._derive(second)

    # reading --------------------------------------------------------------------------------
    def _arrow_dataset(self) -> pds.Dataset:
        files = self._checked_files()
        return open_dataset(self._definition["format"], files)

    def _include_path(self) -> bool:
        return bool(self._definition["format"].get("include_path"))

    def to_arrow_table(self) -> pa.Table:
        """The rows as a pyarrow Table (ours; v1 had only pandas, dask and spark)."""
        return to_table(self._arrow_dataset(), self._definition["transforms"], self._include_path())

    def to_pandas_dataframe(
        self, on_error: str = "null", out_of_range_datetime: str = "null"
    ) -> pd.DataFrame:
        """The rows as a pandas DataFrame, read through pyarrow.

        ``on_error`` / ``out_of_range_datetime`` are v1's; here a value that cannot be parsed
        as its column's type is always an error naming the file (pyarrow refuses, rather than
        leaving a null that hides a malformed file)."""
        for name, value in (
            ("on_error", on_error),
            ("out_of_range_datetime", out_of_range_datetime),
        ):
            if value not in ("null", "fail"):
                raise AmlError(f"{name} is 'null' or 'fail'; got {value!r}.")
        return self.to_arrow_table().to_pandas()

    def to_record_batches(self) -> Any:
        """The rows as a stream of pyarrow record batches (ours: for data bigger than memory)."""
        _, stream = batches(
            self._arrow_dataset(), self._definition["transforms"], self._include_path()
        )
        return stream

    def to_dask_dataframe(self, *args: Any, **kwargs: Any) -> Any:
        raise AmlError(
            "to_dask_dataframe is not supported here; use to_pandas_dataframe(), or "
            "to_record_batches() for data bigger than memory."
        )

    def to_spark_dataframe(self, *args: Any, **kwargs: Any) -> Any:
        raise AmlError("to_spark_dataframe is not supported here; use to_pandas_dataframe().")

    # into runs ------------------------------------------------------------------------------
    def as_mount(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        raise AmlError(
            "Only FileDataset supports mount; pass a TabularDataset as_named_input(name)."
        )

    def as_download(self, path_on_compute: str | None = None) -> DatasetConsumptionConfig:
        raise AmlError(
            "Only FileDataset supports download; pass a TabularDataset as_named_input(name)."
        )

"""Partitioned datasets: a filter on a ``partition_format`` column, beside what a user would
write without one.

Setup: ``STATES`` x ``DAYS`` parquet files laid out ``<state>/<yyyy>/<MM>/<dd>/data.parquet``
(``ROWS`` rows each: an int64, two float64 and a string column), on local disk.

Measured, alternated, median of REPS, for "the rows of one state":

* ours: ``Dataset.Tabular.from_parquet_files(glob, partition_format=...)``, then
  ``.filter(ds['state'] == 'S3').to_pandas_dataframe()`` (the dataset made each time: listing
  and the path check are in the figure);
* pyarrow with its own directory partitioning (``pyarrow.dataset.dataset(root,
  partitioning=[...])``, then ``to_table(filter=...)``): what a pyarrow user writes;
* pandas without partitions: read every file, add the state from the path, filter
  (``pd.concat`` of ``read_parquet``): what a user of plain files writes.

Run: ``.venv/bin/python benchmarks/bench_partitions.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_environment, fmt_ms, header, median, print_table, temp_folder

STATES = 10
DAYS = 20
ROWS = 20_000
REPS = 5
FORMAT = "/{state}/{date:yyyy/MM/dd}/data.parquet"


def make(root: Path) -> None:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(0)
    for s in range(STATES):
        for d in range(1, DAYS + 1):
            folder = root / f"S{s}" / "2024" / "05" / f"{d:02d}"
            folder.mkdir(parents=True)
            table = pa.table(
                {
                    "id": np.arange(ROWS),
                    "x": rng.random(ROWS),
                    "y": rng.random(ROWS),
                    "tag": rng.choice(["a", "b", "c"], ROWS),
                }
            )
            pq.write_table(table, folder / "data.parquet")


def ours(root: Path) -> int:
    from aml_jupyter import Dataset

    ds = Dataset.Tabular.from_parquet_files(str(root / "**/*.parquet"), partition_format=FORMAT)
    return len(ds.filter(ds["state"] == "S3").to_pandas_dataframe())


def pyarrow_partitioning(root: Path) -> int:
    import pyarrow as pa
    import pyarrow.dataset as pds

    names = ("state", "year", "month", "day")
    schema = pa.schema([(n, pa.string()) for n in names])
    ds = pds.dataset(str(root), format="parquet", partitioning=pds.partitioning(schema))
    return ds.to_table(filter=pds.field("state") == "S3").num_rows


def pandas_all(root: Path) -> int:
    import pandas as pd

    frames = []
    for path in sorted(root.rglob("*.parquet")):
        frame = pd.read_parquet(path)
        frame["state"] = path.relative_to(root).parts[0]
        frames.append(frame)
    df = pd.concat(frames, ignore_index=True)
    return len(df[df["state"] == "S3"])


def main() -> int:
    clean_environment()
    header("bench_partitions", "a filter on a partition column vs pyarrow and plain pandas")
    import pandas  # noqa: F401

    import aml_jupyter  # noqa: F401  (imports outside the timings)

    with temp_folder("partitions") as root:
        make(root)
        variants = {
            "aml: partition_format + filter": ours,
            "pyarrow: dataset(partitioning=...)": pyarrow_partitioning,
            "pandas: read all, filter": pandas_all,
        }
        for fn in variants.values():
            assert fn(root) == DAYS * ROWS  # warm-up, and all agree
        times: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(REPS):
            for name, fn in variants.items():
                t0 = time.perf_counter()
                fn(root)
                times[name].append(time.perf_counter() - t0)
    print_table(
        f"rows of 1 state of {STATES} ({STATES * DAYS} files, {STATES * DAYS * ROWS:,} rows), "
        f"median of {REPS}",
        ["how", "time"],
        [(name, fmt_ms(median(t))) for name, t in times.items()],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

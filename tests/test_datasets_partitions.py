"""v1's ``partition_format`` (columns from the files' paths, filters on them that skip files
unread) and ``Dataset.File.upload_directory``."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import Dataset
from aml_jupyter.data.partition_format import PartitionFormat
from aml_jupyter.errors import AmlError
from aml_jupyter.tracking.workspace import Workspace

FORMAT = "/{state}/{date:yyyy/MM/dd}/data.parquet"


@pytest.fixture
def sales(tmp_path: Path) -> Path:
    """sales/<state>/<yyyy>/<MM>/<dd>/data.parquet, two rows a file."""
    root = tmp_path / "sales"
    for state, day, amount in [("WA", 1, 10), ("WA", 2, 20), ("CA", 1, 30), ("OR", 3, 40)]:
        folder = root / state / "2019" / "01" / f"{day:02d}"
        folder.mkdir(parents=True)
        pq.write_table(pa.table({"amount": [amount, amount + 1]}), folder / "data.parquet")
    return root


def test_partition_columns_come_from_the_paths(sales: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(sales / "**/*.parquet"), partition_format=FORMAT)
    assert ds.partition_keys == ["state", "date"]
    df = ds.to_pandas_dataframe().sort_values("amount").reset_index(drop=True)
    assert list(df.columns) == ["amount", "state", "date"]
    assert df["state"].tolist() == ["WA", "WA", "WA", "WA", "CA", "CA", "OR", "OR"]
    assert df["date"].tolist()[:2] == [pd.Timestamp(2019, 1, 1)] * 2
    assert df["date"].tolist()[-1] == pd.Timestamp(2019, 1, 3)
    values = ds.get_partition_key_values(["state"])
    assert sorted(v["state"] for v in values) == ["CA", "OR", "WA"]
    assert {"state": "WA", "date": datetime(2019, 1, 2)} in ds.get_partition_key_values()


def test_a_filter_on_partition_columns_never_opens_the_other_files(sales: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(sales / "**/*.parquet"), partition_format=FORMAT)
    # Files that are not parquet at all: reading one would fail, so a right answer shows
    # they were skipped on their paths alone (the schema comes from the first file, CA's).
    for path in (sales / "OR").rglob("*.parquet"):
        path.write_bytes(b"not parquet")
    wa = ds.filter(ds["state"] == "WA")
    assert sorted(wa.to_pandas_dataframe()["amount"]) == [10, 11, 20, 21]
    assert wa.take(1).to_pandas_dataframe()["state"].tolist() == ["WA"]  # the streamed path
    first = ds.filter(ds["date"] < datetime(2019, 1, 2))
    assert sorted(first.to_pandas_dataframe()["amount"]) == [10, 11, 30, 31]
    with pytest.raises(AmlError, match="cannot be read"):
        ds.to_pandas_dataframe()  # the broken files are there


def test_csv_and_file_datasets_take_partition_formats_too(tmp_path: Path) -> None:
    for user in ("ann", "bob"):
        (tmp_path / "logs" / user).mkdir(parents=True)
        (tmp_path / "logs" / user / "run-7.csv").write_text("x\n1\n")
    tab = Dataset.Tabular.from_delimited_files(
        str(tmp_path / "logs/**/*.csv"), partition_format="{user}/run-{run}.csv"
    )
    df = tab.to_pandas_dataframe()
    assert sorted(zip(df["user"], df["run"], strict=True)) == [("ann", "7"), ("bob", "7")]
    files = Dataset.File.from_files(str(tmp_path / "logs"), partition_format="{user}/*.csv")
    assert files.partition_keys == ["user"]
    assert files.get_partition_key_values() == [{"user": "ann"}, {"user": "bob"}]


def test_the_partition_format_is_kept_when_registered(sales: Path, ws: Workspace) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(sales / "**/*.parquet"), partition_format=FORMAT)
    ds.register(ws, "sales")
    again = Dataset.get_by_name(ws, "sales")
    assert again.partition_keys == ["state", "date"]
    assert again.filter(again["state"] == "OR").to_pandas_dataframe()["amount"].tolist() == [
        40,
        41,
    ]


def test_bad_partition_formats_and_paths_say_what_is_wrong(sales: Path, tmp_path: Path) -> None:
    glob = str(sales / "**/*.parquet")
    for text, message in [
        ("/data.parquet", "names no column"),
        ("/{state/data.parquet", "unbalanced"),
        ("/{state}/{state}/data.parquet", "twice"),
        ("/{date:yy}/data.parquet", "date pattern"),
        ("/{amount}/{a:yyyy/MM/dd}/data.parquet", "files have already"),
        ("/{state}/data.csv", "does not match"),
    ]:
        with pytest.raises(AmlError, match=message):
            Dataset.Tabular.from_parquet_files(glob, partition_format=text)
    bad_day = sales / "WA" / "2019" / "13" / "01"
    bad_day.mkdir(parents=True)
    pq.write_table(pa.table({"amount": [1]}), bad_day / "data.parquet")
    with pytest.raises(AmlError, match="no date"):
        Dataset.Tabular.from_parquet_files(glob, partition_format=FORMAT)
    with pytest.raises(AmlError, match="no partition keys"):
        Dataset.File.from_files(str(sales)).get_partition_key_values()


@settings(max_examples=200, deadline=None)
@given(st.text(st.sampled_from("ab/{}:*yMd.\\-_ "), max_size=30), st.text(max_size=40))
def test_any_partition_format_parses_or_fails_clearly(text: str, path: str) -> None:
    try:
        partition = PartitionFormat(text)
    except AmlError:
        return
    try:
        values = partition.values(path)
    except AmlError:
        return
    assert list(values) == partition.names


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.text("abcXYZ019_-. ", min_size=1, max_size=8), min_size=1, max_size=3),
    st.dates(min_value=datetime(1000, 1, 1).date()),
)
def test_values_written_into_a_path_are_read_back(values: list[str], day: object) -> None:
    keys = [f"k{i}" for i in range(len(values))]
    text = "/" + "/".join(f"{{{k}}}" for k in keys) + "/{when:yyyy-MM-dd}/part.csv"
    path = "/data/" + "/".join(values) + f"/{day:%Y-%m-%d}/part.csv"
    got = PartitionFormat(text).values(path)
    assert [got[k] for k in keys] == values
    assert got["when"] == datetime.combine(day, datetime.min.time())  # type: ignore[arg-type]


def test_upload_directory_uploads_and_gives_the_folder_as_a_dataset(
    tmp_path: Path, ws: Workspace
) -> None:
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "a.csv").write_text("x\n1\n")
    (src / "sub" / "b.csv").write_text("x\n2\n")
    (src / "notes.txt").write_text("skip me")
    store = ws.get_default_datastore()
    ds = Dataset.File.upload_directory(str(src), (store, "up"), pattern="*.csv")
    assert sorted(Path(p).name for p in ds.to_path()) == ["a.csv", "b.csv"]
    (src / "a.csv").write_text("x\n9\n")
    with pytest.raises(AmlError, match=r"exist already.*Nothing was uploaded"):
        Dataset.File.upload_directory(str(src), store.path("up"))
    downloaded = Dataset.File.from_files((store, "up/a.csv")).download(str(tmp_path / "d1"))
    assert Path(downloaded[0]).read_text() == "x\n1\n"  # kept as it was
    Dataset.File.upload_directory(str(src), store.path("up"), overwrite=True)
    downloaded = Dataset.File.from_files((store, "up/a.csv")).download(str(tmp_path / "d2"))
    assert Path(downloaded[0]).read_text() == "x\n9\n"
    with pytest.raises(AmlError, match="target"):
        Dataset.File.upload_directory(str(src), "up")

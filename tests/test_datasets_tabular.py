"""Tabular datasets read through pyarrow: formats, options, lazy transforms kept in a
registered definition, streaming ``take`` that never opens the later files."""

from __future__ import annotations

from pathlib import Path

import fsspec
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fsspec.implementations.memory import MemoryFileSystem

from aml_jupyter import Dataset
from aml_jupyter.errors import AmlError
from aml_jupyter.tracking.workspace import Workspace


def frame(start: int, rows: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": range(start, start + rows),
            "score": [i * 0.5 for i in range(start, start + rows)],
            "city": ["Oslo" if i % 3 == 0 else "Rome" for i in range(start, start + rows)],
        }
    )


@pytest.fixture
def parquet_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "pq"
    folder.mkdir()
    for part in range(4):
        pq.write_table(
            pa.Table.from_pandas(frame(part * 100, 100)),
            folder / f"p{part}.parquet",
            row_group_size=25,
        )
    return folder


def expected(n_parts: int = 4) -> pd.DataFrame:
    return pd.concat([frame(p * 100, 100) for p in range(n_parts)], ignore_index=True)


def test_parquet_reads_like_pandas(parquet_folder: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder / "*.parquet"))
    pd.testing.assert_frame_equal(ds.to_pandas_dataframe(), expected())


def test_take_skip_keep_drop_filter_match_pandas(parquet_folder: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder))
    want = expected()
    pd.testing.assert_frame_equal(ds.take(7).to_pandas_dataframe(), want.head(7))
    pd.testing.assert_frame_equal(
        ds.skip(95).take(10).to_pandas_dataframe(), want.iloc[95:105].reset_index(drop=True)
    )
    got = ds.filter(
        (ds["score"] > 20) & ~(ds["city"] == "Oslo") | (ds["id"] == 3)
    ).to_pandas_dataframe()
    mask = ((want["score"] > 20) & ~(want["city"] == "Oslo")) | (want["id"] == 3)
    pd.testing.assert_frame_equal(got, want[mask].reset_index(drop=True))
    # A filter after a take runs on the stream, in order.
    got = ds.take(50).filter(ds["city"] != "Rome").keep_columns(["id"]).to_pandas_dataframe()
    assert list(got["id"]) == [i for i in range(50) if i % 3 == 0] and list(got.columns) == ["id"]
    assert list(ds.drop_columns("city").take(1).to_pandas_dataframe().columns) == ["id", "score"]
    with pytest.raises(AmlError, match="columns the dataset does not have here: city"):
        ds.keep_columns(["id"]).filter(ds["city"] == "Oslo").to_pandas_dataframe()
    with pytest.raises(AmlError, match="nope"):
        ds.keep_columns(["nope"]).to_pandas_dataframe()


def test_random_split_is_disjoint_and_deterministic(parquet_folder: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder))
    left, right = ds.random_split(0.3, seed=11)
    a = set(left.to_pandas_dataframe()["id"])
    b = set(right.to_pandas_dataframe()["id"])
    assert not a & b and a | b == set(range(400)) and 60 < len(a) < 180
    assert set(ds.random_split(0.3, seed=11)[0].to_pandas_dataframe()["id"]) == a
    unseeded = ds.random_split(0.5)  # a seed is chosen and recorded: still complementary
    assert not set(unseeded[0].to_pandas_dataframe()["id"]) & set(
        unseeded[1].to_pandas_dataframe()["id"]
    )
    sample = ds.take_sample(0.1, seed=3).to_pandas_dataframe()
    assert 0 < len(sample) < 100


def test_transforms_are_kept_by_a_registered_version(ws: Workspace, parquet_folder: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder))
    ds.filter(ds["id"] >= 390).keep_columns(["id"]).register(ws, "tail")
    got = Dataset.get_by_name(ws, "tail")
    assert list(got.to_pandas_dataframe()["id"]) == list(range(390, 400))
    assert [t["op"] for t in got.definition["transforms"]] == ["filter", "keep_columns"]


def test_take_reads_only_the_first_files(parquet_folder: Path) -> None:
    # The later files are not parquet at all: only a read that opens them can fail.
    for part in (2, 3):
        (parquet_folder / f"p{part}.parquet").write_bytes(b"not parquet" * 100)
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder))
    assert list(ds.take(120).to_pandas_dataframe()["id"]) == list(range(120))
    with pytest.raises(AmlError, match="cannot be read"):
        ds.to_pandas_dataframe()


class CountingMemory(MemoryFileSystem):
    """A memory filesystem that remembers which files were opened (a remote-like store)."""

    protocol = "countmem"
    opened: list[str] = []

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return super()._strip_protocol(path.removeprefix("countmem://"))

    def _open(self, path: str, *args: object, **kwargs: object) -> object:
        type(self).opened.append(self._strip_protocol(path))
        return super()._open(path, *args, **kwargs)


def test_remote_store_streams_through_fsspec(ws: Workspace) -> None:
    fsspec.register_implementation("countmem", CountingMemory, clobber=True)
    fs = fsspec.filesystem("countmem")
    try:
        for part in range(5):
            with fs.open(f"/bucket/t/p{part}.csv", "wb") as f:
                f.write(frame(part * 10, 10).to_csv(index=False).encode())
        ds = Dataset.Tabular.from_delimited_files("countmem://bucket/t/*.csv")
        CountingMemory.opened.clear()
        assert list(ds.take(15).to_pandas_dataframe()["id"]) == list(range(15))
        opened = {p.rsplit("/", 1)[-1] for p in CountingMemory.opened}
        assert "p0.csv" in opened and opened <= {"p0.csv", "p1.csv"}
        registered = ds.register(ws, "remote-csv")
        assert len(Dataset.get_by_name(ws, "remote-csv").to_pandas_dataframe()) == 50
        assert registered.version == 1
    finally:
        fs.rm("/bucket", recursive=True)


def test_delimited_options(tmp_path: Path) -> None:
    (tmp_path / "a.tsv").write_text("x\ty\n1\t2\n3\t4\n")
    ds = Dataset.Tabular.from_delimited_files(str(tmp_path / "a.tsv"), separator="\t")
    assert ds.to_pandas_dataframe().to_dict("list") == {"x": [1, 3], "y": [2, 4]}
    as_text = Dataset.Tabular.from_delimited_files(
        str(tmp_path / "a.tsv"), separator="\t", infer_column_types=False
    )
    assert as_text.to_pandas_dataframe()["x"].tolist() == ["1", "3"]
    typed = Dataset.Tabular.from_delimited_files(
        str(tmp_path / "a.tsv"), separator="\t", set_column_types={"y": "float"}
    )
    assert typed.to_pandas_dataframe()["y"].dtype == "float64"
    (tmp_path / "h.csv").write_text("1,2\n3,4\n")
    headless = Dataset.Tabular.from_delimited_files(str(tmp_path / "h.csv"), header=False)
    assert len(headless.to_pandas_dataframe()) == 2
    with_path = Dataset.Tabular.from_delimited_files(str(tmp_path / "h.csv"), include_path=True)
    assert with_path.to_pandas_dataframe()["Path"].tolist() == [str(tmp_path / "h.csv")]
    with pytest.raises(AmlError, match="Unknown column type"):
        Dataset.Tabular.from_delimited_files(
            str(tmp_path / "h.csv"), set_column_types={"a": "blob"}
        )
    with pytest.raises(AmlError, match="separator is one character"):
        Dataset.Tabular.from_delimited_files(str(tmp_path / "h.csv"), separator="::")


def test_json_lines(tmp_path: Path) -> None:
    (tmp_path / "r.jsonl").write_text('{"a": 1, "b": "x"}\n{"a": 2, "b": "y"}\n')
    ds = Dataset.Tabular.from_json_lines_files(str(tmp_path / "r.jsonl"))
    assert ds.to_pandas_dataframe().to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
    with pytest.raises(AmlError, match="not supported"):
        Dataset.Tabular.from_json_lines_files(str(tmp_path / "r.jsonl"), invalid_lines="drop")


def test_malformed_csv_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2,3\n")
    with pytest.raises(AmlError, match=r"cannot be read.*Expected 2 columns"):
        Dataset.Tabular.from_delimited_files(str(bad))
    lazy = Dataset.Tabular.from_delimited_files(str(bad), validate=False)
    with pytest.raises(AmlError, match="cannot be read"):
        lazy.to_pandas_dataframe()
    # A later file that breaks: the error comes when it is read.
    good = tmp_path / "ok"
    good.mkdir()
    (good / "a.csv").write_text("a,b\n1,2\n")
    (good / "b.csv").write_text("a,b\n1,2\n3\n")
    ds = Dataset.Tabular.from_delimited_files(str(good))
    with pytest.raises(AmlError, match="cannot be read"):
        ds.to_pandas_dataframe()


def test_bad_transform_arguments(parquet_folder: Path) -> None:
    ds = Dataset.Tabular.from_parquet_files(str(parquet_folder))
    for call, message in [
        (lambda: ds.take(-1), "whole number"),
        (lambda: ds.skip(1.5), "whole number"),
        (lambda: ds.random_split(1.5), "between 0 and 1"),
        (lambda: ds.filter("id > 3"), "condition on columns"),
        (lambda: ds.filter(ds["id"]), "condition on columns"),
        (lambda: ds.filter(ds["id"] > 3 and ds["id"] < 9), "truth value"),
        (lambda: ds["id"] + 1, "Only comparisons"),
        (lambda: ds["id"] > [1, 2], "compared with"),
        (lambda: ds.keep_columns([]), "Columns are"),
        (lambda: ds.to_pandas_dataframe(on_error="skip"), "'null' or 'fail'"),
    ]:
        with pytest.raises(AmlError, match=message):
            call()


def test_register_pandas_dataframe(ws: Workspace) -> None:
    from aml_jupyter.data.datastore import default_datastore

    store = default_datastore(ws)
    ds = Dataset.Tabular.register_pandas_dataframe(frame(0, 5), (store, "frames"), "frame")
    assert ds.version == 1
    pd.testing.assert_frame_equal(
        Dataset.get_by_name(ws, "frame").to_pandas_dataframe(), frame(0, 5)
    )


def test_an_http_url(ws: Workspace, tmp_path: Path) -> None:
    import functools
    import http.server
    import threading

    served = tmp_path / "served"
    served.mkdir()
    (served / "t.csv").write_text("a,b\n1,x\n2,y\n")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/t.csv"
        ds = Dataset.Tabular.from_delimited_files(url)
        assert ds.to_pandas_dataframe().to_dict("list") == {"a": [1, 2], "b": ["x", "y"]}
        ds.register(ws, "web")
        # Same size, other bytes, and plain http reports no ETag: still noticed.
        (served / "t.csv").write_text("a,b\n1,x\n3,y\n")
        with pytest.raises(AmlError, match=r"changed: t\.csv"):
            Dataset.get_by_name(ws, "web").to_pandas_dataframe()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
    # The server is gone: an unreachable store is one clear error.
    with pytest.raises(AmlError, match=r"No files at .*cannot be reached"):
        Dataset.Tabular.from_delimited_files(url)

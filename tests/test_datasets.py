"""Datasets: made from datastores, local paths and fsspec URLs; registered as versions pinned
to their bytes; looked up by name, version and id; files downloaded and mounted."""

from __future__ import annotations

import os
from pathlib import Path

import fsspec
import pandas as pd
import pytest

from aml_jupyter import Dataset
from aml_jupyter.data.datastore import default_datastore
from aml_jupyter.data.file_dataset import FileDataset
from aml_jupyter.data.tabular_dataset import TabularDataset
from aml_jupyter.errors import AmlError
from aml_jupyter.tracking.workspace import Workspace


def write_csvs(folder: Path, parts: int = 2, rows: int = 10) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for p in range(parts):
        path = folder / f"part{p}.csv"
        start = p * rows
        pd.DataFrame({"a": range(start, start + rows), "b": [f"r{i}" for i in range(rows)]}).to_csv(
            path, index=False
        )
        paths.append(path)
    return paths


@pytest.fixture
def blob(ws: Workspace) -> object:
    store = default_datastore(ws)
    write_csvs(store.folder / "train")
    return store


def test_from_a_datastore_glob_register_and_get_back(ws: Workspace, blob: object) -> None:
    ds = Dataset.Tabular.from_delimited_files((blob, "train/*.csv"))
    assert isinstance(ds, TabularDataset) and ds.name is None and ds.version is None
    registered = ds.register(ws, "train", description="d", tags={"team": "x"})
    assert (registered.name, registered.version, registered.description) == ("train", 1, "d")
    assert registered.tags == {"team": "x"}

    back = Dataset.get_by_name(ws, "train")
    assert back.id == registered.id and back.version == 1
    assert Dataset.get_by_id(ws, registered.id).name == "train"
    assert list(ws.datasets) == ["train"] and ws.datasets["train"].id == registered.id
    assert list(Dataset.get_all(ws)) == ["train"]
    frame = back.to_pandas_dataframe()
    assert list(frame["a"]) == list(range(20))


def test_same_definition_and_bytes_is_the_same_version(ws: Workspace, blob: object) -> None:
    ds = Dataset.File.from_files((blob, "train"))
    first = ds.register(ws, "files")
    again = Dataset.File.from_files((blob, "train")).register(ws, "files")
    assert again.version == 1 and again.id == first.id
    # Another definition of the name needs create_new_version, as v1.
    with pytest.raises(AmlError, match="create_new_version=True"):
        ds.take(1).register(ws, "files")
    assert ws.store.dataset_versions("files") == [1]
    second = ds.take(1).register(ws, "files", create_new_version=True)
    assert second.version == 2 and Dataset.get_by_name(ws, "files").version == 2
    assert Dataset.get_by_name(ws, "files", version=1).id == first.id
    assert Dataset.get_by_name(ws, "files", version="2").to_path() == ["/part0.csv"]


def test_a_version_records_sizes_and_hashes(ws: Workspace, blob: object) -> None:
    import hashlib

    registered = Dataset.File.from_files((blob, "train/*.csv")).register(ws, "hashed")
    rows = ws.store.dataset_files(registered.id)
    assert [r.path for r in rows] == ["part0.csv", "part1.csv"]
    for row in rows:
        data = (blob.folder / "train" / row.path).read_bytes()  # type: ignore[attr-defined]
        assert row.size == len(data) and row.sha256 == hashlib.sha256(data).hexdigest()
    record = ws.store.get_dataset("hashed")
    assert (
        record is not None and record.file_count == 2 and record.size == sum(r.size for r in rows)
    )


def test_changed_bytes_under_a_version_are_named(ws: Workspace, blob: object) -> None:
    Dataset.Tabular.from_delimited_files((blob, "train/*.csv")).register(ws, "pinned")
    part1 = blob.folder / "train" / "part1.csv"  # type: ignore[attr-defined]
    original = part1.read_bytes()
    # Same size, other bytes: only the hash tells (the mtime changes, so it is rehashed).
    part1.write_bytes(original.replace(b"r1", b"x1"))
    stat = part1.stat()
    os.utime(part1, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    got = Dataset.get_by_name(ws, "pinned")
    with pytest.raises(AmlError, match=r"changed: part1\.csv.*create_new_version=True"):
        got.to_pandas_dataframe()
    with pytest.raises(AmlError, match=r"changed: part1\.csv"):
        got.verify()
    with pytest.raises(AmlError, match=r"version 1 of dataset 'pinned'.*changed: part1\.csv"):
        got.take(2).to_pandas_dataframe()  # a transform of a version keeps its pin
    (blob.folder / "train" / "part2.csv").write_text("a,b\n1,x\n")  # type: ignore[attr-defined]
    with pytest.raises(AmlError, match=r"new: part2\.csv"):
        got.verify()
    # Registering the files as they are now is the way on.
    newer = Dataset.get_by_name(ws, "pinned").register(ws, "pinned", create_new_version=True)
    assert newer.version == 2 and len(newer.to_pandas_dataframe()) == 21
    part1.write_bytes(original)
    (blob.folder / "train" / "part2.csv").unlink()  # type: ignore[attr-defined]
    Dataset.get_by_name(ws, "pinned", 1).verify()  # restored: version 1 reads again
    with pytest.raises(AmlError, match=r"missing: part2\.csv"):
        Dataset.get_by_name(ws, "pinned", 2).verify()


def test_warm_hashes_are_not_read_again(ws: Workspace, blob: object) -> None:
    ds = Dataset.File.from_files((blob, "train"))
    ds.register(ws, "warm")
    with ws.store.count_statements() as seen:
        Dataset.get_by_name(ws, "warm").verify()
    writes = [s for s in seen if s.lstrip().upper().startswith("INSERT")]
    assert writes == []  # nothing rehashed, nothing re-cached


def test_local_paths_and_globs(ws: Workspace, tmp_path: Path) -> None:
    write_csvs(tmp_path / "data" / "x", parts=1)
    write_csvs(tmp_path / "data" / "y", parts=2)
    (tmp_path / "data" / "y" / ".hidden").write_text("h")
    files = Dataset.File.from_files(str(tmp_path / "data" / "**" / "*.csv"))
    assert files.to_path() == ["/x/part0.csv", "/y/part0.csv", "/y/part1.csv"]
    folder = Dataset.File.from_files(tmp_path / "data" / "y")
    assert folder.to_path() == ["/.hidden", "/part0.csv", "/part1.csv"]
    one = Dataset.File.from_files(f"file://{tmp_path}/data/x/part0.csv")
    assert one.to_path() == ["/part0.csv"]
    relative = Dataset.File.from_files("data/x")  # relative to the cwd when made
    assert relative.definition["sources"] == [{"local": str(tmp_path / "data" / "x")}]
    registered = files.register(ws, "local-files")
    assert Dataset.get_by_name(ws, "local-files").to_path() == registered.to_path()


def test_a_list_of_sources_and_a_data_reference(
    ws: Workspace, blob: object, tmp_path: Path
) -> None:
    write_csvs(blob.folder / "more", parts=1)  # type: ignore[attr-defined]

    class DataReference:  # what datastore.path(...) gives in v1: these two attributes
        datastore = blob
        path_on_datastore = "more"

    with pytest.raises(AmlError, match=r"same file name 'part0\.csv'"):
        Dataset.File.from_files([(blob, "train/part0.csv"), DataReference()])
    ds = Dataset.File.from_files([(blob, "train/part1.csv"), DataReference()])
    assert ds.to_path() == ["/part0.csv", "/part1.csv"]


def test_files_from_a_remote_fsspec_store(ws: Workspace, tmp_path: Path) -> None:
    memory = fsspec.filesystem("memory")
    memory.pipe("/remote-ds/a/one.txt", b"one")
    memory.pipe("/remote-ds/a/b/two.txt", b"two")
    try:
        ds = Dataset.File.from_files("memory://remote-ds/a/**")
        assert ds.to_path() == ["/b/two.txt", "/one.txt"]
        chained = Dataset.File.from_files("simplecache::memory://remote-ds/a/*.txt")
        assert chained.to_path() == ["/one.txt"]  # fsspec's URL chains are URLs too
        registered = ds.register(ws, "remote")
        got = registered.download(tmp_path / "down")
        assert sorted(Path(p).read_bytes() for p in got) == [b"one", b"two"]
        with registered.mount() as mounted:
            two = Path(mounted.mount_point) / "b" / "two.txt"
            assert two.read_bytes() == b"two"
            assert not os.stat(two).st_mode & 0o222  # the cached copy is read-only
            os.chmod(two.resolve(), 0o644)  # a script that writes through the link anyway
            two.write_bytes(b"scribbled")
        with registered.mount() as mounted:  # the cache's copy is downloaded again
            assert (Path(mounted.mount_point) / "b" / "two.txt").read_bytes() == b"two"
        memory.pipe("/remote-ds/a/one.txt", b"ONE")
        with pytest.raises(AmlError, match=r"changed: one\.txt"):
            Dataset.get_by_name(ws, "remote").to_path()
    finally:
        memory.rm("/remote-ds", recursive=True)


def test_download_keeps_names_and_refuses_to_overwrite(
    ws: Workspace, blob: object, tmp_path: Path
) -> None:
    ds = Dataset.File.from_files((blob, "train"))
    target = tmp_path / "out"
    paths = ds.download(target)
    assert paths == [str(target / "part0.csv"), str(target / "part1.csv")]
    (target / "part0.csv").write_text("mine")
    with pytest.raises(AmlError, match="overwrite=True"):
        ds.download(target)
    assert (target / "part0.csv").read_text() == "mine"
    ds.download(target, overwrite=True)
    assert (target / "part0.csv").read_bytes() == (blob.folder / "train" / "part0.csv").read_bytes()  # type: ignore[attr-defined]
    assert not list(target.glob(".*partial"))


def test_mount_links_the_files_and_cleans_up(ws: Workspace, blob: object, tmp_path: Path) -> None:
    ds = Dataset.File.from_files((blob, "train")).skip(1)
    point = tmp_path / "mnt"
    context = ds.mount(point)
    context.start()
    assert context.mount_point == str(point) and os.listdir(point) == ["part1.csv"]
    assert (point / "part1.csv").resolve() == (blob.folder / "train" / "part1.csv").resolve()  # type: ignore[attr-defined]
    context.stop()
    assert not point.exists()
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(AmlError, match="empty folder"):
        ds.mount(tmp_path / "busy").start()


def test_file_take_skip_and_split(tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for i in range(40):
        (folder / f"f{i:02}.txt").write_text(str(i))
    ds = Dataset.File.from_files(folder)
    assert ds.take(3).to_path() == ["/f00.txt", "/f01.txt", "/f02.txt"]
    assert ds.skip(38).to_path() == ["/f38.txt", "/f39.txt"]
    left, right = ds.random_split(0.25, seed=7)
    a, b = set(left.to_path()), set(right.to_path())
    assert not a & b and a | b == set(ds.to_path()) and 0 < len(a) < 40
    assert set(ds.random_split(0.25, seed=7)[0].to_path()) == a


def test_bad_input_is_one_clear_error(ws: Workspace, blob: object, tmp_path: Path) -> None:
    with pytest.raises(AmlError, match="No files at"):
        Dataset.File.from_files((blob, "nothing/**"))
    with pytest.raises(AmlError, match="No files at"):
        Dataset.Tabular.from_delimited_files(str(tmp_path / "missing.csv"))
    lazy = Dataset.File.from_files(str(tmp_path / "missing"), validate=False)
    with pytest.raises(AmlError, match="No files at"):
        lazy.register(ws, "nothing")
    assert ws.store.dataset_versions("nothing") == []
    Dataset.Tabular.from_delimited_files((blob, "train/*.csv")).register(ws, "t")
    with pytest.raises(AmlError, match="no version 3; its versions: 1"):
        Dataset.get_by_name(ws, "t", 3)
    with pytest.raises(AmlError, match="No dataset named 'nope'"):
        Dataset.get_by_name(ws, "nope")
    with pytest.raises(AmlError, match="positive number or 'latest'"):
        Dataset.get_by_name(ws, "t", version=0)
    with pytest.raises(AmlError, match="No dataset version with id"):
        Dataset.get_by_id(ws, "0000")
    with pytest.raises(AmlError, match="registered for a tabular dataset"):
        Dataset.File.from_files((blob, "train")).register(ws, "t")
    with pytest.raises(AmlError, match="Dataset name"):
        Dataset.File.from_files((blob, "train")).register(ws, "../x")
    with pytest.raises(AmlError, match="does not match partition_format"):
        Dataset.File.from_files((blob, "train"), partition_format="{x}/")
    with pytest.raises(AmlError, match=r"'\.\.'"):
        Dataset.File.from_files((blob, "../outside"))
    with pytest.raises(AmlError, match="dataset path is"):
        Dataset.File.from_files(42)
    with pytest.raises(AmlError, match="register\\(ws, name\\) first"):
        Dataset.File.from_files((blob, "train")).add_tags({"a": 1})


def test_tags_description_and_unregister(ws: Workspace, blob: object) -> None:
    ds = Dataset.File.from_files((blob, "train")).register(ws, "tagged", tags={"a": "1"})
    ds.add_tags({"b": 2})
    assert ds.tags == {"a": "1", "b": "2"}
    ds.remove_tags(["a"])
    assert Dataset.get_by_name(ws, "tagged").tags == {"b": "2"}
    ds.update(description="new")
    assert Dataset.get_by_id(ws, ds.id).description == "new"
    ws.store.add_run_datasets("run-1", "input", {"train": ds.id})
    ds.unregister_all_versions()
    assert "tagged" not in ws.datasets
    # The run keeps the record of which version it read.
    assert [(r.direction, r.name, r.dataset_id) for r in ws.store.run_datasets("run-1")] == [
        ("input", "train", ds.id)
    ]


def test_lineage_records(ws: Workspace, blob: object) -> None:
    ds = Dataset.File.from_files((blob, "train")).register(ws, "lin")
    ws.store.add_run_datasets("r1", "input", {"train": ds.id})
    ws.store.add_run_datasets("r2", "output", {"out": ds.id})
    assert [(r.run_id, r.direction) for r in ws.store.dataset_lineage(ds.id)] == [
        ("r1", "input"),
        ("r2", "output"),
    ]
    with pytest.raises(AmlError, match="'input' or an 'output'"):
        ws.store.add_run_datasets("r3", "sideways", {"x": ds.id})


def test_named_input_configs(blob: object) -> None:
    files = Dataset.File.from_files((blob, "train"))
    config = files.as_named_input("train")
    assert (config.name, config.mode, config.dataset) == ("train", "direct", files)
    assert (
        config.as_mount().mode == "mount" and config.as_download("/data").path_on_compute == "/data"
    )
    tabular = Dataset.Tabular.from_delimited_files((blob, "train/*.csv"))
    assert tabular.as_named_input("t").mode == "direct"
    with pytest.raises(AmlError, match="Only FileDataset supports mount"):
        tabular.as_named_input("t").as_mount()
    with pytest.raises(AmlError, match="Only FileDataset supports mount"):
        tabular.as_mount()
    assert isinstance(files, FileDataset)
    with pytest.raises(AmlError, match="environment variable"):
        files.as_named_input("my-data")


def test_v1_import_paths() -> None:
    import subprocess
    import sys

    code = (
        "import aml_jupyter.azureml\n"
        "from azureml.core import Dataset\n"
        "from azureml.core.dataset import Dataset as D2\n"
        "from azureml.data import FileDataset, TabularDataset\n"
        "from azureml.data.dataset_consumption_config import DatasetConsumptionConfig\n"
        "import aml_jupyter\n"
        "assert Dataset is D2 is aml_jupyter.Dataset\n"
        "print(FileDataset.__name__, TabularDataset.__name__, DatasetConsumptionConfig.__name__)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[-1].split() == [
        "FileDataset",
        "TabularDataset",
        "DatasetConsumptionConfig",
    ]


def test_an_unreadable_folder_is_an_error_not_a_smaller_dataset(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads every folder")
    folder = tmp_path / "locked"
    (folder / "inner").mkdir(parents=True)
    (folder / "inner" / "f.txt").write_text("x")
    (folder / "g.txt").write_text("y")
    (folder / "inner").chmod(0)
    try:
        with pytest.raises(AmlError, match="Cannot list"):
            Dataset.File.from_files(str(folder))
    finally:
        (folder / "inner").chmod(0o755)


def test_a_v1_notebook_registers_and_reads_a_dataset(
    aml_kernel: str, ws: Workspace, tmp_path: Path
) -> None:
    import nbformat

    from tests.notebooks import execute, outputs_text

    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(source)
        for source in (
            "import pandas as pd\n"
            "from azureml.core import Workspace, Dataset\n"
            "from azureml.data import TabularDataset\n"
            "ws = Workspace.from_config()\n"
            "pd.DataFrame({'x': [1, 2, 3, 4], 'y': list('abcd')}).to_csv('data.csv', index=False)",
            "ds = Dataset.Tabular.from_delimited_files(path='data.csv')\n"
            "ds = ds.register(workspace=ws, name='nb-data', description='four rows',\n"
            "                 create_new_version=True)\n"
            "df = Dataset.get_by_name(ws, name='nb-data').filter(ds['x'] > 2).to_pandas_dataframe()\n"
            "print('read', ds.name, ds.version, isinstance(ds, TabularDataset), df['y'].tolist())",
        )
    ]
    text = outputs_text(execute(nb, tmp_path, aml_kernel))
    assert "read nb-data 1 True ['c', 'd']" in text
    assert Dataset.get_by_name(ws, "nb-data").description == "four rows"

"""The metric index (store/metric_index.py) and the hardened metric readers (store/metrics.py).

Every read through the index is checked against the plain reading of the files
(``aggregate(read_points(...))``, ``history``, ``summarize``), on files written by the real
:class:`MetricWriter` plus hand-made lines for what it cannot produce (ties in time between
processes, a clock stepping back, ints beyond 64 bits, garbage).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import Experiment
from aml_jupyter.store import metric_index_build, metrics
from aml_jupyter.store.metric_index import (
    build_index,
    index_dir,
    read_history,
    read_metrics,
    skipped_lines,
)
from aml_jupyter.store.metric_writer import MetricWriter
from aml_jupyter.store.metrics import (
    aggregate,
    history,
    latest_values,
    read_new_points,
    read_points,
    summarize,
    summarize_files,
)


def canon(value: Any) -> str:
    """JSON that tells 1 from 1.0 and True, and NaN equal to NaN: for exact comparisons."""
    return json.dumps(value, sort_keys=True)


def expected(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """What the plain reading of the files gives: metrics, and the history of each name."""
    points = read_points(folder)
    return aggregate(points), {name: history(points, name) for name in {p[1] for p in points}}


def assert_same_as_files(folder: Path) -> None:
    """read_metrics/read_history (index or not) give what the plain reading gives."""
    want, histories = expected(folder)
    got = read_metrics(folder)
    assert canon(got) == canon(want)
    assert list(got) == list(want)  # v1's key order too
    for name, rows in histories.items():
        assert canon(read_history(folder, name)) == canon(rows)
        assert canon(read_metrics(folder, name)) == canon(aggregate(read_points(folder), name))
    assert read_history(folder, "never logged") == [] and read_metrics(folder, "nope") == {}


def line(kind: str, name: Any, value: Any, step: Any, at: Any) -> bytes:
    return json.dumps([kind, name, value, step, at]).encode() + b"\n"


def mixed_run(folder: Path) -> None:
    """Two writers at once (two process files) and hand-made files: every kind and type."""
    a = MetricWriter(folder)
    os.rename(a.path, folder / "1000.jsonl")  # the open descriptor follows the file
    b = MetricWriter(folder)
    for i in range(40):
        a.scalar("loss", 1.0 / (i + 1), step=i)
        b.scalar("loss", -0.5 * i)  # the same metric from another process, without steps
        a.scalar("epoch", i // 10)
        if i % 7 == 0:
            b.scalar("acc", float("nan") if i == 14 else i / 40)
    a.scalar("loss", 3)  # an int among floats
    a.scalar("epoch", 2.5)  # a float among ints
    for value in ("text", True, False, None, float("inf"), -0.0, [1, 2], {"k": "v"}):
        b.scalar("odd", value)
    a.scalar("once", 7)
    b.record("r", "curve", {"x": 1, "y": 0.1})
    a.record("r", "curve", {"x": 2, "z": "new column"})
    b.record("t", "table", {"a": [1, 2], "b": ["x", "y"]})
    a.record("l", "sizes", [3, 4, 5])
    b.record("i", "picture", "images/picture.png")
    b.scalar("curve", 0.5)  # a scalar under a table's name: the scalar wins
    a.close()
    b.close()
    # Ties in time between files, a clock stepping back, big ints, rows after a list.
    (folder / "0500.jsonl").write_bytes(
        line("s", "loss", 9.5, 3, 5)
        + line("s", "loss", 8.5, None, 3)
        + line("s", "tie", 1, None, 100)
        + line("s", "big", 2**70, None, 101)
        + line("s", "big", 5, -(2**63), 102)
        + line("l", "mixed", [1], None, 103)
        + line("r", "mixed", {"c": 1}, None, 104)
        + line("s", "tie", 3.5, 1, 100)
    )
    (folder / "0600.jsonl").write_bytes(
        line("s", "tie", 2, None, 100) + line("s", "tie", 4, 2, 100) + b'["s","tie",5,nu'
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "run" / "metrics"


def test_index_gives_what_the_files_give(folder: Path) -> None:
    mixed_run(folder)
    assert_same_as_files(folder)  # no index yet: the files are parsed
    summary = build_index(folder)
    assert canon(summary) == canon(summarize(read_points(folder))) == canon(summarize_files(folder))
    assert summary["loss"][1] == 83 and summary["tie"] == (4, 4)
    assert (index_dir(folder) / "manifest.json").is_file()
    assert_same_as_files(folder)
    # Lines logged after the index, and a new process's file, are read from the files.
    with open(folder / "1000.jsonl", "ab") as f:
        f.write(line("s", "loss", 0.125, 99, 50) + line("r", "curve", {"x": 3}, None, 51))
    (folder / "0001.jsonl").write_bytes(line("s", "tie", 6, None, 100) + line("s", "new", 1, 1, 1))
    assert_same_as_files(folder)


def test_reads_come_from_the_index_not_the_files(folder: Path) -> None:
    mixed_run(folder)
    want, histories = expected(folder)
    build_index(folder)
    for path in folder.glob("*.jsonl"):  # blank out what the index covers: size kept
        path.write_bytes(b" " * path.stat().st_size)
    assert canon(read_metrics(folder)) == canon(want)
    assert canon(read_history(folder, "loss")) == canon(histories["loss"])
    assert read_points(folder) == []  # the files themselves hold nothing readable now


def test_a_damaged_or_stale_index_is_not_used(folder: Path) -> None:
    mixed_run(folder)
    want = canon(aggregate(read_points(folder)))
    build_index(folder)
    times = index_dir(folder) / "times"
    times.write_bytes(times.read_bytes()[:-8])  # a column cut short
    assert canon(read_metrics(folder)) == want
    build_index(folder)  # rebuilt from scratch
    (index_dir(folder) / "manifest.json").write_text('{"version": 1, "files": 3}')
    assert canon(read_metrics(folder)) == want
    build_index(folder)
    path = folder / "0600.jsonl"
    path.write_bytes(path.read_bytes()[:10])  # a file shorter than the index says
    assert canon(read_metrics(folder)) == canon(aggregate(read_points(folder)))
    assert sorted(p.name for p in folder.parent.iterdir()) == ["metric_index", "metrics"]


def test_a_killed_build_leaves_nothing_behind(folder: Path) -> None:
    mixed_run(folder)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    stale = folder.parent / f".metric_index.{dead}.abcd"
    stale.mkdir()
    (stale / "times").write_bytes(b"x" * 100)
    build_index(folder)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["metric_index", "metrics"]


MALFORMED = [
    b"{}",
    b"[]",
    b"null",
    b"[1,2]",
    b'"a string"',
    b'["s",5,1.0,null,10]',  # name not a string
    b'["s","x",1.0,null,1.5]',  # time not an int
    b'["s","x",1.0,null,true]',
    b'["s","x",1.0,null,"10"]',
    b'["s","x",1.0,null,99999999999999999999999]',  # time beyond int64
    b'["s","x",1.0,"one",10]',  # step not an int
    b'["s","x",1.0,1.5,10]',
    b'["s","x",1.0,false,10]',
    b'["q","x",1.0,null,10]',  # no such kind
    b'[["s"],"x",1.0,null,10]',
    b'["s","\\ud800",1.0,null,10]',  # a lone surrogate: no UTF-8 for it
    b'["r","x",[1],null,10]',  # a row that is not a dict
    b'["i","x",5,null,10]',  # an image that is not a file name
    b'["s","x",1.0,null,10,"extra"]',
    b"[" * 100_000,  # json.loads raises RecursionError
    b"\xff\xfe garbage",
    b"",
    b"NaN",
]


def test_malformed_lines_are_skipped_and_counted(folder: Path) -> None:
    folder.mkdir(parents=True)
    good = [
        line("s", "x", 1.0, None, 1),
        line("s", "x", 2, 7, 2),
        line("r", "x", {"a": 1}, None, 3),
    ]
    body = good[0] + b"\n".join(MALFORMED) + b"\n" + good[1] + good[2] + b'["s","x",3'
    (folder / "1.jsonl").write_bytes(body)
    assert [p[2] for p in read_points(folder)] == [1.0, 2, {"a": 1}]
    assert skipped_lines(folder) == len(MALFORMED)
    assert read_metrics(folder) == {"x": [1.0, 2]}
    assert read_history(folder, "x")[1] == {"step": 7, "value": 2, "time": 2e-6}
    assert build_index(folder) == {"x": (2, 2)}
    manifest = json.loads((index_dir(folder) / "manifest.json").read_text())
    assert manifest["skipped"] == len(MALFORMED) == skipped_lines(folder)
    assert read_metrics(folder) == {"x": [1.0, 2]}
    points, cursor = read_new_points(folder)
    assert len(points) == 3 and read_new_points(folder, cursor) == ([], cursor)
    assert latest_values(folder) == {"x": 2}


def test_long_lines_and_small_chunks(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(metrics, "CHUNK_BYTES", 64)  # many chunks, lines across them
    monkeypatch.setattr(metrics, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(metric_index_build, "FLUSH_POINTS", 5)  # many blocks per metric
    folder.mkdir(parents=True)
    long_ok = line("l", "big", list(range(150)), None, 2)  # ~700 bytes: several chunks
    too_long = line("l", "big", list(range(400)), None, 3)  # over MAX_LINE_BYTES: skipped
    body = b"".join(line("s", "m", i * 0.5, i, 10 + i) for i in range(30))
    (folder / "1.jsonl").write_bytes(long_ok + too_long + body + too_long[:900])
    assert read_metrics(folder)["big"] == list(range(150))
    assert skipped_lines(folder) == 1
    assert_same_as_files(folder)
    assert build_index(folder)["m"] == (14.5, 30)
    assert_same_as_files(folder)
    assert skipped_lines(folder) == 1


def test_run_get_metrics_reads_the_index(exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    for i in range(100):
        run.log("loss", 1 / (i + 1), step=i)
    run.log("acc", 0.9)
    run.log_row("curve", x=1, y=2)
    run.complete()
    before = run.get_metrics(), run.get_metric_history("loss")
    build_index(run.folder / "metrics")
    path = next((run.folder / "metrics").glob("*.jsonl"))
    path.write_bytes(b" " * path.stat().st_size)  # the index alone serves now
    assert (run.get_metrics(), run.get_metric_history("loss")) == before
    assert run.get_metrics("acc") == {"acc": 0.9} and before[0]["curve"] == {"x": [1], "y": [2]}


# Lines a hostile or broken file may hold: well-formed ones, near misses and noise.
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=6,
)
_rows = st.tuples(
    st.sampled_from(["s", "s", "s", "l", "r", "t", "i", "x"]),
    st.sampled_from(["a", "b", "\ud800", 5]),
    _json,
    st.none() | st.integers(min_value=-(2**64), max_value=2**64) | st.just("1"),
    st.integers(min_value=-5, max_value=5) | st.integers() | st.floats(),
).map(lambda row: json.dumps(list(row)).encode())
_lines = st.lists(
    _rows | st.binary(max_size=20) | st.sampled_from([b"[1", b"2]", b"[" * 3000, b"{}", b"[]"]),
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.lists(_lines, min_size=1, max_size=3),
    tail=st.binary(max_size=30),
    later=st.lists(_rows, max_size=5),
)
def test_readers_never_raise_and_the_index_agrees(
    files: list[list[bytes]], tail: bytes, later: list[bytes]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "metrics"
        folder.mkdir()
        for i, lines in enumerate(files):
            (folder / f"{i}.jsonl").write_bytes(b"\n".join(lines) + b"\n" + tail)
        want = canon(aggregate(read_points(folder)))
        assert canon(read_metrics(folder)) == want
        read_new_points(folder, "0.jsonl:3,x:y,1.jsonl:99999999999")
        latest_values(folder, tail_bytes=17)
        skipped = skipped_lines(folder)
        assert canon(summarize_files(folder)) == canon(summarize(read_points(folder)))
        assert canon(build_index(folder)) == canon(summarize(read_points(folder)))
        assert canon(read_metrics(folder)) == want and skipped_lines(folder) == skipped
        for name in ("a", "b"):
            assert canon(read_history(folder, name)) == canon(history(read_points(folder), name))
        with open(folder / "0.jsonl", "ab") as f:  # lines logged after the index (the torn
            f.write(b"".join(line + b"\n" for line in later))  # tail glued to the first)
        (folder / "00.jsonl").write_bytes(b"".join(line + b"\n" for line in later))
        assert canon(read_metrics(folder)) == canon(aggregate(read_points(folder)))
        assert canon(read_history(folder, "a")) == canon(history(read_points(folder), "a"))


@pytest.fixture(scope="module")
def indexed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One mixed run with its index, built once: the corruption test copies it."""
    folder = tmp_path_factory.mktemp("indexed") / "run" / "metrics"
    mixed_run(folder)
    build_index(folder)
    return folder.parent


@settings(max_examples=120, deadline=None)
@given(
    target=st.sampled_from(["manifest.json", "side.jsonl", "times", "values", "steps"]),
    at=st.integers(min_value=0),
    junk=st.binary(min_size=1, max_size=40),
    path=st.lists(st.integers(min_value=0, max_value=20), min_size=1, max_size=4),
    value=_json,
)
def test_a_corrupt_index_never_makes_readers_raise(
    indexed_run: Path, target: str, at: int, junk: bytes, path: list[int], value: Any
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(shutil.copytree(indexed_run, Path(tmp) / "run"))
        folder, file = run / "metrics", run / "metric_index" / target
        if target == "manifest.json":  # valid JSON, one field anywhere in it replaced
            manifest = node = json.loads(file.read_text())
            for step in path[:-1]:
                keys = list(node) if isinstance(node, dict) else range(len(node))
                child = node[list(keys)[step % len(keys)]] if keys else None
                if not isinstance(child, (dict, list)) or not child:
                    break
                node = child
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            node[keys[path[-1] % len(keys)]] = value
            file.write_text(json.dumps(manifest))
        else:  # bytes overwritten in place (size kept: the manifest's sizes still match)
            data = bytearray(file.read_bytes())
            if data:
                start = at % len(data)
                data[start : start + len(junk)] = junk[: len(data) - start]
                file.write_bytes(bytes(data))
        metrics_now = read_metrics(folder)
        assert isinstance(metrics_now, dict)
        read_metrics(folder, "loss")
        read_history(folder, "tie")
        assert skipped_lines(folder) >= 0


def test_build_memory_stays_bounded(tmp_path: Path) -> None:
    """~1 M points indexed in a fresh process: its peak RSS stays under 100 MB (parsing them
    all at once, as finalize did, took ~300 MB). A memory bound, not a timing."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    n = 1_000_000
    with open(folder / "1.jsonl", "w") as f:
        for start in range(0, n, 100_000):
            f.write(
                "".join(
                    f'["s","m{i % 4}",{i * 0.25},{i},{i}]\n' for i in range(start, start + 100_000)
                )
            )
    script = textwrap.dedent(
        f"""
        import json, resource
        from pathlib import Path
        from aml_jupyter.store.metric_index import build_index
        summary = build_index(Path({str(folder)!r}))
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
        # getrusage's figure starts at the parent's peak (exec keeps it); VmHWM is this
        # program's own.
        with open("/proc/self/status") as f:
            hwm = [int(l.split()[1]) / 1024 for l in f if l.startswith("VmHWM:")]
        print(json.dumps({{"rss_mb": hwm[0] if hwm else rss, "getrusage_mb": rss, "summary": summary}}))
        """
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    report = json.loads(out.stdout)
    assert report["summary"]["m3"] == [(n - 1) * 0.25, n // 4]
    assert report["rss_mb"] < 100, report

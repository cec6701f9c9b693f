"""The Run API on interactive runs (``experiment.start_logging()``), in this process."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from aml_jupyter import AmlError, Experiment, Run, RunStatus, Workspace


@pytest.fixture
def run(exp: Experiment) -> Run:
    return exp.start_logging(snapshot_directory=None)


def test_metrics_have_v1_shapes(run: Run) -> None:
    run.log("acc", 0.5)
    for i, loss in enumerate([3.0, 2.0, 1.0]):
        run.log("loss", loss, step=i)
    run.log("note", "text is fine")
    run.log_list("sizes", [1, 2, 3])
    run.log_row("curve", x=1, y=0.1)
    run.log_row("curve", x=2, y=0.2)
    run.log_table("tbl", {"a": [1, 2], "b": ["x", "y"]})
    metrics = run.get_metrics()
    assert metrics["acc"] == 0.5
    assert metrics["loss"] == [3.0, 2.0, 1.0]
    assert metrics["note"] == "text is fine"
    assert metrics["sizes"] == [1, 2, 3]
    assert metrics["curve"] == {"x": [1, 2], "y": [0.1, 0.2]}
    assert metrics["tbl"] == {"a": [1, 2], "b": ["x", "y"]}
    assert run.get_metrics("acc") == {"acc": 0.5}
    history = run.get_metric_history("loss")
    assert [h["step"] for h in history] == [0, 1, 2]


def test_nan_and_infinity_are_metrics_too(run: Run) -> None:
    run.log("x", float("nan"))
    run.log("x", float("inf"))
    values = run.get_metrics()["x"]
    assert values[0] != values[0] and values[1] == float("inf")


def test_non_jsonable_metric_is_a_clear_error_and_logs_nothing(run: Run) -> None:
    with pytest.raises(AmlError, match="cannot be stored"):
        run.log("bad", object())
    with pytest.raises(AmlError, match="step must be an int"):
        run.log("bad", 1.0, step="one")  # type: ignore[arg-type]
    assert run.get_metrics() == {}


def test_log_image_from_file_and_from_matplotlib(run: Run, tmp_path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png = tmp_path / "pic.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 16)  # the signature is what is checked
    run.log_image("from file", path=png)
    plt.plot([1, 2, 3])
    run.log_image("plot", plot=plt)
    names = run.get_file_names()
    assert "images/from_file.png" in names and "images/plot.png" in names
    assert run.get_metrics()["plot"] == "aml://artifacts/images/plot.png"
    out = run.download_file("images/plot.png", tmp_path / "got.png")
    assert Path(out).read_bytes().startswith(b"\x89PNG")
    with pytest.raises(AmlError, match="exactly one"):
        run.log_image("none")


def test_tags_and_immutable_properties(run: Run) -> None:
    run.tag("stage", "dev")
    run.tag("flag")
    run.set_tags({"a": 1, "b": "2"})
    run.remove_tags(["b"])
    assert run.get_tags() == {"stage": "dev", "flag": None, "a": "1"}
    run.add_properties({"k": "v"})
    run.add_properties({"k": "v"})  # same value: fine
    with pytest.raises(AmlError, match="immutable"):
        run.add_properties({"k": "other"})
    assert run.get_properties()["k"] == "v"


def test_files_upload_download_and_listing(run: Run, tmp_path: Path) -> None:
    src = tmp_path / "model.bin"
    src.write_bytes(b"weights")
    run.upload_file("outputs/model.bin", str(src))
    run.upload_file("notes/readme.txt", io.BytesIO(b"hello"))
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "f.txt").write_text("f")
    run.upload_folder("extra", str(folder))
    assert run.get_file_names() == ["extra/sub/f.txt", "notes/readme.txt", "outputs/model.bin"]
    out = tmp_path / "dl"
    written = run.download_files(prefix="outputs", output_directory=out)
    assert written == [str(out / "outputs" / "model.bin")]
    assert (out / "outputs" / "model.bin").read_bytes() == b"weights"
    flat = run.download_files(
        prefix="extra", output_directory=tmp_path / "flat", append_prefix=False
    )
    assert Path(flat[0]).read_text() == "f" and Path(flat[0]) == tmp_path / "flat" / "sub" / "f.txt"
    with pytest.raises(AmlError, match="no file"):
        run.download_file("outputs/missing.bin")


@pytest.mark.parametrize("name", ["../escape.txt", "/etc/passwd", "a/../../b", "C:\\x", ""])
def test_file_names_outside_the_run_are_refused(run: Run, tmp_path: Path, name: str) -> None:
    src = tmp_path / "x.txt"
    src.write_text("x")
    with pytest.raises(AmlError):
        run.upload_file(name, str(src))
    with pytest.raises(AmlError):
        run.download_file(name, tmp_path / "out")
    assert run.get_file_names() == []


def test_children_context_manager_and_recursive_metrics(run: Run) -> None:
    with run.child_run("first") as child:
        child.log("c", 1)
    assert child.get_status() == RunStatus.COMPLETED
    assert child.parent == run and child.display_name == "first"
    tagged = run.create_children(tag_key="lr", tag_values=["0.1", "0.2"])
    assert sorted(c.get_tags()["lr"] for c in tagged) == ["0.1", "0.2"]
    plain = run.create_children(count=2)
    assert len(plain) == 2
    assert len(list(run.get_children())) == 5
    assert [c.id for c in run.get_children(tags={"lr": "0.2"})] == [tagged[1].id]
    with pytest.raises(ValueError), run.child_run() as failing:
        raise ValueError("boom")
    assert failing.get_status() == RunStatus.FAILED
    assert "boom" in failing.get_details()["error"]["error"]["message"]
    nested = run.get_metrics(recursive=True)
    assert nested[child.id] == {"c": 1} and run.id in nested
    run.complete()
    # Children still running when the parent ends, end with it.
    assert {c.get_status() for c in plain} == {RunStatus.COMPLETED}


def test_complete_fail_cancel_and_details(exp: Experiment) -> None:
    a = exp.start_logging(snapshot_directory=None)
    a.complete()
    a.fail("too late")  # an ended run stays as it ended
    assert a.get_status() == RunStatus.COMPLETED
    b = exp.start_logging(snapshot_directory=None)
    b.fail("bad data", error_code="DataError")
    details = b.get_details()
    assert details["status"] == RunStatus.FAILED
    assert details["error"]["error"] == {"code": "DataError", "message": "bad data"}
    assert details["endTimeUtc"].endswith("Z")
    c = exp.start_logging(snapshot_directory=None)
    c.cancel()
    assert c.get_status() == RunStatus.CANCELED
    assert (a.number, b.number, c.number) == (1, 2, 3)


def test_names_descriptions_and_get_runs_filters(exp: Experiment) -> None:
    a = exp.start_logging(snapshot_directory=None)
    a.display_name = "baseline"
    a.description = "first try"
    a.tag("kind", "base")
    a.complete()
    b = exp.start_logging(snapshot_directory=None)
    assert a.display_name == "baseline" and a.description == "first try"
    assert [r.id for r in exp.get_runs()] == [b.id, a.id]
    assert [r.id for r in exp.get_runs(tags={"kind": "base"})] == [a.id]
    assert [r.id for r in exp.get_runs(tags="kind")] == [a.id]
    assert [r.id for r in exp.get_runs(status="Running")] == [b.id]
    assert [r.id for r in Run.list(exp, status="Completed")] == [a.id]
    assert [e.name for e in Experiment.list(exp.workspace)] == ["tests"]


def test_run_get_by_id_and_prefix(ws: Workspace, exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    assert Run.get(ws, run.id) == run
    assert ws.get_run(run.id[:-4]) == run
    with pytest.raises(AmlError, match="No run with id"):
        Run.get(ws, "nope_123")


def test_start_logging_keeps_outputs_and_snapshots_without_venvs(
    ws: Workspace, tmp_path: Path
) -> None:
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "result.txt").write_text("42")
    (tmp_path / "analysis.py").write_text("print(1)")
    venv = tmp_path / "myenv"
    venv.mkdir()
    (venv / "pyvenv.cfg").write_text("home = /usr")
    (venv / "big.bin").write_bytes(b"x" * 1000)
    run = Experiment(ws, "nb").start_logging()
    run.complete()
    assert "outputs/result.txt" in run.get_file_names()
    restored = Path(run.restore_snapshot(path=tmp_path / "snap"))
    names = sorted(p.relative_to(restored).as_posix() for p in restored.rglob("*") if p.is_file())
    assert names == ["analysis.py", "outputs/result.txt"]


def test_log_follower_never_splits_a_character(run: Run) -> None:
    log = run.folder / "user_logs" / "std_log.txt"
    log.parent.mkdir(parents=True, exist_ok=True)
    data = "héllo wörld\n".encode()
    log.write_bytes(data[:2])  # 'h' and half of 'é'
    text, offset = run.read_log_chunk(0)
    assert (text, offset) == ("h", 1)
    log.write_bytes(data)
    rest, offset = run.read_log_chunk(offset)
    assert "h" + rest == "héllo wörld\n" and offset == len(data)


def test_metric_files_survive_torn_lines(run: Run) -> None:
    from aml_jupyter.store.metrics import read_points

    run.log("a", 1)
    run.log("a", 2)
    folder = run.folder / "metrics"
    # A kill mid-write leaves a line without its newline; a reused pid may append after it.
    torn = b'["s","a",3,null,1]\n["s","a",4,nu["s","a",5,null,2]\n["s","a",6,null,3]\n["s","a",7'
    (folder / "99999.jsonl").write_bytes(torn)
    values = [p[2] for p in read_points(folder)]
    # Only the torn line (and the write glued onto it) is lost; everything else is kept.
    assert values == [3, 6, 1, 2]


def test_metric_points_are_read_incrementally_by_cursor(run: Run) -> None:
    run.log("loss", 0.5, step=0)
    run.log_row("curve", x=1)
    points, cursor = run.get_metric_points()
    assert [(p["kind"], p["name"], p["value"], p["step"]) for p in points] == [
        ("scalar", "loss", 0.5, 0),
        ("row", "curve", {"x": 1}, None),
    ]
    assert run.get_metric_points(cursor) == ([], cursor)  # nothing new
    run.log("loss", 0.25, step=1)
    new, cursor2 = run.get_metric_points(cursor)
    assert [p["value"] for p in new] == [0.25] and cursor2 != cursor
    # A half-written line is not returned until it is complete.
    writer_file = next((run.folder / "metrics").glob("*.jsonl"))
    with open(writer_file, "ab") as f:
        f.write(b'["s","loss",0.1,2,')
    assert run.get_metric_points(cursor2)[0] == []
    with open(writer_file, "ab") as f:
        f.write(b"1]\n")
    assert [p["value"] for p in run.get_metric_points(cursor2)[0]] == [0.1]


def test_html_view_escapes_user_text(run: Run) -> None:
    run.display_name = "<script>alert(1)</script>"
    html = run._repr_html_()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert run.id in html and "Running" in html

"""One bad run never harms another: what a careless or hostile script logs, tags or leaves
behind is refused at once or contained in its own run; readers and the next run go on."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import numpy as np
import pytest

from aml_jupyter import AmlError, Experiment, Run, ScriptRunConfig, Workspace
from aml_jupyter.status import RunStatus
from aml_jupyter.tracking.query import list_runs, run_page
from tests.conftest import wait_status, write


def deep(levels: int) -> list:
    value: list = []
    for _ in range(levels):
        value = [value]
    return value


def still_works(ws: Workspace, exp: Experiment) -> None:
    """Every reader answers and a new run starts, logs and completes."""
    list_runs(ws, include_children=True)
    json.dumps(run_page(ws, limit=50))
    for run in exp.get_runs():
        run.get_status(), run.get_details(), run.get_metrics(), run.get_tags()
    fresh = exp.start_logging(snapshot_directory=None)
    fresh.log("ok", 1)
    fresh.complete()
    assert fresh.get_status() == RunStatus.COMPLETED
    assert fresh.get_metrics() == {"ok": 1}


def test_names_and_values_that_readers_could_not_handle_are_refused_at_log(
    ws: Workspace, exp: Experiment
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    bad_name = "rows " + os.fsdecode(b"caf\xe9.csv")  # a lone surrogate, as from a file name
    cases = [
        lambda: run.log(bad_name, 10),
        lambda: run.log("nested", deep(1000)),
        lambda: run.log("huge", 10**5000),
        lambda: run.log("raw", b"bytes"),
        lambda: run.log("text", "x\ud800"),
        lambda: run.log("", 1),
        lambda: run.log("n" * 256, 1),
        lambda: run.log("obj", object()),
        lambda: run.log("step", 1, step="3"),
        lambda: run.log_list("l", [deep(100)]),
        lambda: run.log_row("r", **{"col": b"x"}),
        lambda: run.tag(bad_name, "v"),
        lambda: run.tag("k", "v" * 40_000),
        lambda: run.set_tags({"k": "v", "\udcff": "w"}),
        lambda: run.add_properties({"p" * 300: 1}),
    ]
    for case in cases:
        with pytest.raises(AmlError) as info:
            case()
        assert "\n" not in str(info.value).strip()
    assert run.get_metrics() == {}
    assert run.get_tags() == {}  # all or nothing: the good tag beside the bad one is not set
    run.complete()
    assert run.get_status() == RunStatus.COMPLETED
    still_works(ws, exp)


def test_numpy_scalars_are_logged_as_their_python_values(exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    run.log("f32", np.float32(0.5))
    run.log("i64", np.int64(3), step=np.int64(7))
    run.log("b", np.bool_(True))
    run.log("zero_d", np.array(2.5))
    run.log_list("l", np.array([1, 2, 3]).tolist())
    run.log_row("r", acc=np.float64(0.25))
    run.complete()
    metrics = run.get_metrics()
    assert metrics["f32"] == 0.5 and type(metrics["f32"]) is float
    assert metrics["i64"] == 3 and type(metrics["i64"]) is int
    assert metrics["b"] is True and metrics["zero_d"] == 2.5
    assert metrics["r"] == {"acc": [0.25]}
    assert run.get_metric_history("i64")[0]["step"] == 7


def test_experiment_names_are_bounded_by_what_a_file_name_holds(ws: Workspace) -> None:
    for length in (201, 236, 255):
        with pytest.raises(AmlError, match="200"):
            Experiment(ws, "e" * length)
    long = Experiment(ws, "e" * 200)
    run = long.start_logging(snapshot_directory=None)
    run.log("x", 1)
    run.complete()
    assert run.get_status() == RunStatus.COMPLETED
    with pytest.raises(AmlError, match="Run id"):
        long.start_logging(run_id="../escape", snapshot_directory=None)


def test_a_run_whose_owner_died_with_hostile_metrics_ends_alone(
    ws: Workspace, exp: Experiment
) -> None:
    """Lines a script wrote straight into its metrics file (no checks) cannot break readers."""
    run = exp.start_logging(snapshot_directory=None)
    metrics = run.folder / "metrics"
    metrics.mkdir(parents=True, exist_ok=True)
    lines = [
        b'["s","ok",1,null,1]',
        b"[" * 5000 + b"]" * 5000,
        b'["s","\\ud800",1,null,2]',
        b"{}",
        b"null",
        b'["s",3,4]',
        b'["s","big",1e400,null,3]',
        b"\xff\xfe",
    ]
    (metrics / "99999.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    # The owner "dies": a pid that is not running.
    ws.store.update_run(run.id, pid=2**22 + 12345, pid_started="1")
    still_works(ws, exp)
    assert run.get_status() == RunStatus.FAILED
    assert run.get_details()["error"]["error"]["code"] == "OwnerDied"


def submit(exp: Experiment, project: Path, script: str) -> Run:
    write(project, "train.py", script)
    return exp.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))


def test_outputs_replaced_by_a_link_leaves_the_linked_folder_alone(
    tmp_path: Path, exp: Experiment, project: Path
) -> None:
    mine = tmp_path / "my_data"
    mine.mkdir()
    (mine / "precious.csv").write_text("a,b\n1,2\n")
    run = submit(
        exp,
        project,
        f"""
        import os, shutil
        shutil.rmtree("outputs")
        os.symlink({str(mine)!r}, "outputs")
        print("linked")
        """,
    )
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.COMPLETED
    assert (mine / "precious.csv").read_text() == "a,b\n1,2\n"
    assert not [n for n in run.get_file_names() if n.startswith("outputs/")]
    assert "symbolic link" in run.read_log() and "not kept" in run.read_log()


def test_links_inside_a_run_are_never_served_or_moved(
    tmp_path: Path, exp: Experiment, project: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    shared = tmp_path / "shared.bin"
    shared.write_bytes(b"shared content")
    shared.chmod(0o644)
    flag = tmp_path / "go"
    run = submit(
        exp,
        project,
        f"""
        import os, time
        os.symlink({str(secret)!r}, "outputs/passwd")
        os.symlink({str(secret)!r}, "logs/shadow")
        os.symlink({str(tmp_path)!r}, "outputs/elsewhere")
        os.link({str(shared)!r}, "outputs/hard.bin")
        open("outputs/real.txt", "w").write("mine")
        open("logs/events.txt", "w").write("log")
        print("ready", flush=True)
        while not os.path.exists({str(flag)!r}):
            time.sleep(0.05)
        """,
    )
    try:
        deadline = time.monotonic() + 30
        while not {"outputs/real.txt", "logs/events.txt"} <= set(run.get_file_names()):
            assert time.monotonic() < deadline and run.get_status() not in RunStatus.TERMINAL
            time.sleep(0.05)
        # Live: the links are neither listed nor served.
        for name in ("outputs/passwd", "logs/shadow", "outputs/elsewhere/secret.txt"):
            assert name not in run.get_file_names()
            with pytest.raises(AmlError):
                run.open_file(name)
        assert run.open_file("outputs/real.txt").read() == b"mine"
    finally:
        flag.touch()  # the script ends however the checks went
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.COMPLETED
    names = run.get_file_names()
    assert "outputs/real.txt" in names and "outputs/hard.bin" in names
    for name in ("outputs/passwd", "logs/shadow"):
        assert name not in names
        with pytest.raises(AmlError):
            run.open_file(name)
        with pytest.raises(AmlError):
            run.download_file(name, str(tmp_path / "out"))
    # The hard-linked file was copied, not moved: the user's file is untouched.
    assert shared.read_bytes() == b"shared content"
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert secret.read_text() == "top secret"
    assert run.open_file("outputs/hard.bin").read() == b"shared content"


def test_a_full_disk_ends_the_run_failed_by_its_supervisor(tmp_path: Path) -> None:
    """A real tmpfs of 24 MiB holds the workspace; the script fills it."""
    import subprocess

    mount = tmp_path / "small"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        ws = Workspace.create(mount / "ws")
        exp = Experiment(ws, "full")
        project = tmp_path / "project"
        project.mkdir()
        run = submit(
            exp,
            project,
            """
            chunk = b"x" * (1 << 20)
            with open("outputs/big.bin", "wb") as f:
                while True:
                    f.write(chunk)
            """,
        )
        assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.FAILED
        error = run.get_details()["error"]["error"]
        assert error["code"] == "DiskFull", error
        assert "full" in error["message"]
        assert ws.store.db.query_one("PRAGMA integrity_check")[0] == "ok"
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_script_arguments_must_be_a_list(project: Path) -> None:
    with pytest.raises(AmlError, match="list"):
        ScriptRunConfig(source_directory=str(project), script="t.py", arguments="--lr 0.1")


def test_log_image_refuses_a_file_that_is_not_an_image(exp: Experiment, tmp_path: Path) -> None:
    run = exp.start_logging(snapshot_directory=None)
    fake = tmp_path / "plot.png"
    fake.write_text("not an image")
    with pytest.raises(AmlError, match="image"):
        run.log_image("plot", path=str(fake))
    png = tmp_path / "real.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.figure()
    plt.plot([1, 2])
    plt.savefig(png)
    run.log_image("plot", path=str(png))
    run.complete()
    assert run.get_metrics()["plot"].startswith("aml://artifacts/images/")
    assert json.dumps(run.get_metrics())


def test_big_tags_are_bounded_and_only_their_start_is_searched(
    ws: Workspace, exp: Experiment
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    head, tail = "alpha" * 50, "omega" * 6000  # 250 + 30,000 characters
    run.set_tags({f"t{i}": head + tail for i in range(20)})
    run.complete()
    assert run.get_tags()["t0"] == head + tail  # kept whole
    found = ws.store.list_runs(text="alphaalpha")
    assert [r.id for r in found] == [run.id]
    assert ws.store.list_runs(text="omegaomega") == []  # past the searched prefix
    with pytest.raises(AmlError, match="32,768"):
        run.tag("big", "x" * 32_769)


def test_a_file_name_that_is_not_utf8_is_kept_under_a_readable_name(
    exp: Experiment, project: Path
) -> None:
    run = submit(
        exp,
        project,
        """
        import os
        with open(os.path.join(b"outputs", b"caf\\xe9.csv"), "w") as f:
            f.write("a,b")
        """,
    )
    assert wait_status(run, RunStatus.TERMINAL) == RunStatus.COMPLETED
    assert "outputs/caf%E9.csv" in run.get_file_names()
    assert run.open_file("outputs/caf%E9.csv").read() == b"a,b"
    with pytest.raises(AmlError, match="not valid Unicode"):
        run.upload_file("outputs/\udce9.txt", __file__)


def test_cancel_right_after_submit_ends_canceled(exp: Experiment, project: Path) -> None:
    """v1 users submit and cancel at once: the supervisor may not be up yet (issue 12)."""
    write(project, "train.py", "import time\ntime.sleep(60)\n")
    runs = []
    for _ in range(4):
        run = exp.submit(ScriptRunConfig(source_directory=str(project), script="train.py"))
        run.cancel()
        runs.append(run)
    for run in runs:
        assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.CANCELED, (
            run.get_details().get("error")
        )

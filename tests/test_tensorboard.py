"""Tensorboard over runs' ./logs: real TensorBoard processes, queried over HTTP, and through a
real Jupyter server with jupyter-server-proxy."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aml_jupyter import AmlError, Experiment, Run, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.frontends.tensorboard import Tensorboard, tensorboard_url
from aml_jupyter.frontends.tensorboard import server as tb_server
from tests.conftest import write

REPO = Path(__file__).resolve().parent.parent

#: Writes 3 points, waits for a "go" file in its working folder, writes 2 more and ends.
TRAIN = """
    import time
    from pathlib import Path
    from tensorboard.summary import Writer

    writer = Writer("logs")

    def write(steps):
        for step in steps:
            writer.add_scalar("loss", 1.0 / (step + 1), step)
        writer.flush()

    write(range(3))
    deadline = time.time() + 60
    while not Path("go").exists() and time.time() < deadline:
        time.sleep(0.05)
    write(range(3, 5))
    writer.close()
"""


# helpers --------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(port: int, path: str) -> Any:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://127.0.0.1:{port}/{path}", timeout=5) as response:
        return json.loads(response.read())


def scalars(port: int, run: str, tag: str) -> list[list[float]]:
    query = urllib.parse.urlencode({"run": run, "tag": tag})
    try:
        return list(get_json(port, f"data/plugin/scalars/scalars?{query}"))
    except OSError:  # 400 until TensorBoard has loaded the run
        return []


def wait_for(check: Callable[[], Any], what: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def gone(pid: int) -> bool:
    """True when no process ``pid`` runs (a zombie counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except FileNotFoundError:
        return True


def events_run(exp: Experiment, tmp_path: Path, folder: str, values: list[float], **kw: Any) -> Run:
    """A notebook run that wrote events to ``folder`` and uploaded them as ``logs/``."""
    from tensorboard.summary import Writer

    logs = tmp_path / folder
    writer = Writer(str(logs / "train"))
    for step, value in enumerate(values):
        writer.add_scalar("loss", value, step)
    writer.close()
    run = exp.start_logging(snapshot_directory=None, **kw)
    run.upload_folder("logs", logs)
    run.complete()
    return run


@pytest.fixture(autouse=True)
def no_jupyter_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The URL depends on these: tests set what they need."""
    for var in (
        "JPY_PARENT_PID",
        "JPY_SESSION_NAME",
        "JUPYTERHUB_SERVICE_PREFIX",
        "AML_TENSORBOARD_URL_PREFIX",
        "TENSORBOARD_PROXY_URL",
    ):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def stop_all(tmp_path: Path) -> Iterator[Callable[[Tensorboard], Tensorboard]]:
    """Stops every Tensorboard handed to it, and kills by pid any TensorBoard left in a registry
    under the test's folder (one started by another process, or by a failing test)."""
    boards: list[Tensorboard] = []

    def track(tb: Tensorboard) -> Tensorboard:
        boards.append(tb)
        return tb

    yield track
    for tb in boards:
        tb.stop()
    for registry in tmp_path.rglob("instances.json"):
        for entry in json.loads(registry.read_text()):
            if not gone(entry["pid"]):
                os.killpg(entry["pid"], signal.SIGKILL)


# a submitted run, live and after its end --------------------------------------------------------
def test_a_running_run_is_served_live_and_after_it_ends(
    exp: Experiment, project: Path, tmp_path: Path, stop_all: Any
) -> None:
    write(project, "train.py", TRAIN)
    run = exp.submit(ScriptRunConfig(project, "train.py"))
    live = run.folder / "work" / "logs"
    wait_for(lambda: list(live.glob("events.out.tfevents.*")), "the script's first events")

    tb = stop_all(Tensorboard([run], port=free_port()))
    url = tb.start()
    assert url == f"http://127.0.0.1:{tb.port}/"
    assert run.get_status() == RunStatus.RUNNING
    name = f"{run.id}/."  # events at the root of ./logs
    points = wait_for(lambda: len(scalars(tb.port, name, "loss")) == 3, "3 live points")
    assert points
    assert get_json(tb.port, "data/runs") == [name]
    assert [p[1] for p in scalars(tb.port, name, "loss")] == [0, 1, 2]

    (run.folder / "work" / "go").touch()
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert live.is_dir()  # kept in place for TensorBoard; stored with the run as well
    assert any(n.startswith("logs/events.out.tfevents.") for n in run.get_file_names())
    wait_for(lambda: len(scalars(tb.port, name, "loss")) == 5, "the points written last")
    values = scalars(tb.port, name, "loss")
    assert [p[1] for p in values] == [0, 1, 2, 3, 4]
    assert [p[2] for p in values] == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4, 1 / 5], rel=1e-6)

    # Another process (another kernel) asking for the same run gets the same TensorBoard.
    code = (
        "from aml_jupyter import Workspace\n"
        "from aml_jupyter.frontends.tensorboard import Tensorboard\n"
        f"tb = Tensorboard([Workspace('.').get_run({run.id!r})])\n"
        "tb.start()\n"
        "print('AT', tb.pid, tb.port)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert f"AT {tb.pid} {tb.port}" in out.stdout, out.stdout + out.stderr
    assert "Reusing TensorBoard" in out.stdout

    pid = tb.pid
    assert pid is not None and not gone(pid)
    tb.stop()
    assert gone(pid)
    assert tb.pid is None and tb.url is None
    assert json.loads((exp.workspace.folder / "tensorboard" / "instances.json").read_text()) == []


# runs without a live folder ---------------------------------------------------------------------
def test_stored_logs_are_copied_out_and_named_by_display_name(
    exp: Experiment, tmp_path: Path, stop_all: Any
) -> None:
    first = events_run(exp, tmp_path, "a", [3.0, 2.0], display_name="lr=0.1, bs:32")
    second = events_run(exp, tmp_path, "b", [5.0], display_name="lr=0.1_ bs_32")
    tb = stop_all(Tensorboard([first, second], port=free_port(), use_display_name=True))
    tb.start()
    copied = exp.workspace.folder / "tensorboard" / first.id / "train"
    assert len(list(copied.glob("events.out.tfevents.*"))) == 1
    # ',' and ':' would split --logdir_spec; a name already taken gets the run id added.
    names = {"lr=0.1_ bs_32/train", f"lr=0.1_ bs_32_{second.id}/train"}
    wait_for(lambda: set(get_json(tb.port, "data/runs")) == names, "both runs")
    assert [p[2] for p in scalars(tb.port, "lr=0.1_ bs_32/train", "loss")] == [3.0, 2.0]
    assert [p[2] for p in scalars(tb.port, f"lr=0.1_ bs_32_{second.id}/train", "loss")] == [5.0]


def test_no_runs_serve_local_root_and_a_taken_port_is_skipped(
    tmp_path: Path, stop_all: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from tensorboard.summary import Writer

    root = tmp_path / "my-logs"
    writer = Writer(str(root / "exp1"))
    writer.add_scalar("acc", 0.5, 0)
    writer.close()
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        taken = blocker.getsockname()[1]
        tb = stop_all(Tensorboard([], local_root=root, port=taken))
        url = tb.start()
    assert tb.port is not None and tb.port != taken
    assert url == f"http://127.0.0.1:{tb.port}/"
    assert f"Port {taken} is in use; TensorBoard uses port {tb.port}." in capsys.readouterr().out
    wait_for(lambda: get_json(tb.port, "data/runs") == ["exp1"], "the run in local_root")


# failures leave nothing behind -----------------------------------------------------------------
def test_missing_tensorboard_says_how_to_install_it(tmp_path: Path) -> None:
    # -S: no site-packages, so this Python has no tensorboard (aml_jupyter comes from REPO).
    code = (
        f"import sys; sys.path.insert(0, {str(REPO)!r})\n"
        "from aml_jupyter import AmlError\n"
        "from aml_jupyter.frontends.tensorboard import Tensorboard\n"
        "try:\n"
        "    Tensorboard([], local_root='logs').start()\n"
        "except AmlError as e:\n"
        "    print('AmlError:', e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert "AmlError: TensorBoard is not installed" in out.stdout, out.stdout + out.stderr
    assert "pip install tensorboard" in out.stdout
    assert "aml-jupyter[lab]" in out.stdout


FAKE_MAIN = {
    "exits": """
        import os, sys
        open(os.environ["FAKE_PID_FILE"], "w").write(str(os.getpid()))
        print("loading plugins", file=sys.stderr)
        print("fatal: cannot read the log folder", file=sys.stderr)
        sys.exit(3)
    """,
    "hangs": """
        import os, time
        open(os.environ["FAKE_PID_FILE"], "w").write(str(os.getpid()))
        print("thinking...", flush=True)
        time.sleep(120)
    """,
}


@pytest.mark.parametrize(
    ("case", "message"),
    [
        pytest.param(
            "exits",
            r"exited \(code 3\) before it answered(.|\n)*fatal: cannot read the log folder",
            id="exits-early",
        ),
        pytest.param(
            "hangs",
            r"did not answer on port \d+ within 2 s, so it was stopped(.|\n)*thinking",
            id="never-answers",
        ),
    ],
)
def test_a_tensorboard_that_fails_to_come_up_is_reported_and_stopped(
    case: str,
    message: str,
    ws: Workspace,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop_all: Any,
) -> None:
    fake = tmp_path / "fake"
    write(fake, "tensorboard/__init__.py", "")
    write(fake, "tensorboard/main.py", FAKE_MAIN[case])
    # The TensorBoard process finds the fake first; this process still sees the real one.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(fake), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("FAKE_PID_FILE", str(tmp_path / "fake.pid"))
    monkeypatch.setattr(tb_server, "START_TIMEOUT_S", 2.0)
    with pytest.raises(AmlError, match=message):
        Tensorboard([], local_root=tmp_path / "logs", port=free_port()).start()
    pid = int((tmp_path / "fake.pid").read_text())
    assert gone(pid)
    assert json.loads((ws.folder / "tensorboard" / "instances.json").read_text()) == []


# URLs and display ------------------------------------------------------------------------------
def test_the_url_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert tensorboard_url(6006) == "http://127.0.0.1:6006/"
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/me/")
    assert tensorboard_url(6006) == "/user/me/proxy/6006/"
    monkeypatch.setenv("TENSORBOARD_PROXY_URL", "/user/me/proxy/%PORT%/")
    assert tensorboard_url(6007) == "/user/me/proxy/6007/"
    monkeypatch.setenv("AML_TENSORBOARD_URL_PREFIX", "https://ws.example/proxy/")
    assert tensorboard_url(6006) == "https://ws.example/proxy/6006/"
    monkeypatch.setenv("AML_TENSORBOARD_URL_PREFIX", "https://{port}.ws.example/")
    assert tensorboard_url(6008) == "https://6008.ws.example/"


def test_inline_view_is_an_iframe_and_a_link(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stop_all: Any
) -> None:
    run = events_run(exp, tmp_path, "a", [1.0])
    tb = stop_all(Tensorboard([run], port=free_port()))
    assert "start()" in tb._repr_html_()
    monkeypatch.setenv("AML_TENSORBOARD_URL_PREFIX", "/x/proxy/?a=<b>&")
    tb.start()
    page = tb._repr_html_()
    url = f"/x/proxy/?a=&lt;b&gt;&amp;/{tb.port}/"
    assert f'<iframe src="{url}"' in page
    assert f'<a href="{url}" target="_blank"' in page
    assert "<b>" not in page


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(AmlError, match="list of runs"):
        Tensorboard(["run-id"])  # type: ignore[list-item]
    with pytest.raises(AmlError, match="TCP port"):
        Tensorboard([], port=70000)


# through Jupyter -------------------------------------------------------------------------------
@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    """The test Jupyter server loads jupyter-server-proxy."""
    return {"ServerApp": {"jpserver_extensions": {"jupyter_server_proxy": True}}}


async def test_through_the_jupyter_server_proxy(
    jp_serverapp: Any,
    jp_fetch: Any,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    http_server_client: Any,
    exp: Experiment,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    stop_all: Any,
) -> None:
    run = events_run(exp, tmp_path, "a", [0.25, 0.125])
    # This process hosts the test server (its info file is in $JUPYTER_RUNTIME_DIR), as a
    # Jupyter server hosts the kernels it starts.
    monkeypatch.setenv("JPY_PARENT_PID", str(os.getpid()))
    tb = stop_all(Tensorboard([run], port=free_port()))
    url = tb.start()
    assert url == f"{jp_base_url}proxy/{tb.port}/"

    page = await http_server_client.fetch(url, headers=jp_auth_header)
    assert b"<tf-tensorboard" in page.body or b"tb-relative-root" in page.body

    tags: dict[str, Any] = {}
    for _ in range(100):
        response = await jp_fetch("proxy", str(tb.port), "data", "plugin", "scalars", "tags")
        tags = json.loads(response.body)
        if tags:
            break
        await asyncio.sleep(0.2)
    assert list(tags) == [f"{run.id}/train"]
    assert list(tags[f"{run.id}/train"]) == ["loss"]
    query = {"run": f"{run.id}/train", "tag": "loss"}
    response = await jp_fetch(
        "proxy", str(tb.port), "data", "plugin", "scalars", "scalars", params=query
    )
    assert [p[2] for p in json.loads(response.body)] == [0.25, 0.125]

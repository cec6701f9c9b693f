"""The compute-instance target against a real agent (``aml instance serve``) on 127.0.0.1.

The agent runs in its own process with its own workspace folder; runs go through real HTTP,
real supervisors on the agent side and a real mirror process on ours.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter import (
    AmlError,
    ComputeInstance,
    ComputeTarget,
    Experiment,
    PyTorchConfiguration,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.compute.remote import RemoteGone, append_chunk
from aml_jupyter.frontends.cli.main import main as aml
from tests.conftest import wait_status, write

TRAIN = """
    import os, sys, time
    from azureml.core import Run
    from azureml.core.compute import AmlCompute, ComputeInstance  # v1's names, served by us
    assert AmlCompute.__name__ == "AmlCompute" and ComputeInstance.attach
    run = Run.get_context()
    for i in range(3):
        run.log("loss", 1.0 / (i + 1), step=i)
    run.tag("from-script", "yes")
    os.makedirs("outputs", exist_ok=True)
    os.makedirs("logs", exist_ok=True)
    open("outputs/model.txt", "w").write("model")
    open("logs/events.txt", "w").write("ev")
    print("workspace", os.environ["AML_WORKSPACE"])
    print("args", sys.argv[1:])
"""

SLOW = """
    import time
    print("started", flush=True)
    for i in range(600):
        time.sleep(0.1)
"""


class Agent:
    """An ``aml instance serve`` process (stopped by PID at the end of the test)."""

    def __init__(
        self, folder: Path, port: int, token_file: Path, tls: tuple[Path, Path] | None = None
    ) -> None:
        self.folder, self.port, self.token_file, self.tls = folder, port, token_file, tls
        scheme = "https" if tls else "http"
        self.address = f"{scheme}://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Agent:
        cmd = [sys.executable, "-m", "aml_jupyter", "instance", "serve", "--port", str(self.port)]
        cmd += ["--folder", str(self.folder), "--token-file", str(self.token_file)]
        if self.tls:
            cmd += ["--certfile", str(self.tls[0]), "--keyfile", str(self.tls[1])]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().decode()  # printed once it listens
        assert "aml agent serving" in line, line
        return self

    @property
    def token(self) -> str:
        return self.token_file.read_text().strip()

    @property
    def workspace(self) -> Workspace:
        return Workspace(self.folder / ".aml")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            self.proc.wait(timeout=10)


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    running = Agent(tmp_path / "agent", free_port(), tmp_path / "agent.token").start()
    yield running
    running.stop()
    _stop_agent_runs(running)


def _stop_agent_runs(agent: Agent) -> None:
    """Nothing a test started on the agent outlives it."""
    ws = agent.workspace
    for row in ws.store.list_runs(status=RunStatus.ACTIVE):
        for pid in (row.child_pid, row.pid):
            if pid:
                try:
                    os.killpg(pid, signal.SIGKILL) if pid == row.child_pid else os.kill(pid, 9)
                except (ProcessLookupError, PermissionError):
                    pass


@pytest.fixture
def box(ws: Workspace, agent: Agent) -> ComputeInstance:
    return ComputeInstance.attach(ws, "box", agent.address, agent.token)


def test_a_run_on_the_instance_comes_back_like_a_local_one(
    exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(project, "train.py", TRAIN)
    run = exp.submit(
        ScriptRunConfig(project, "train.py", arguments=["--lr", 0.1], compute_target="box"),
        tags={"team": "ml"},
    )
    details = run.wait_for_completion()
    assert details["status"] == RunStatus.COMPLETED, details
    assert details["target"] == "box"
    assert run.get_metrics() == {"loss": [1.0, 0.5, 1.0 / 3]}
    assert run.get_tags() == {"team": "ml", "from-script": "yes"}
    log = run.read_log()
    # It really ran on the agent, in the agent's own workspace, under the same run id.
    assert f"workspace {agent.workspace.folder}" in log and "args ['--lr', '0.1']" in log
    assert agent.workspace.store.get_run(run.id).status == RunStatus.COMPLETED
    assert {"outputs/model.txt", "logs/events.txt", "user_logs/std_log.txt"} <= set(
        run.get_file_names()
    )
    assert Path(run.download_file("outputs/model.txt", project / "m.txt")).read_text() == "model"
    # ./logs is where TensorBoard looks for this run, as for a local one.
    assert (run.folder / "work" / "logs" / "events.txt").read_text() == "ev"
    # Re-submitting the unchanged folder sends no file again (content-addressed).
    snapshot = json.loads(exp.workspace.blobs.read_bytes(run.get_snapshot_id()))
    shas = [run.get_snapshot_id(), *(row[1] for row in snapshot)]
    assert box.client().upload(exp.workspace, shas) == 0
    assert ComputeTarget(exp.workspace, "box").get_status() == "Running"


def test_every_route_answers_401_without_the_token(agent: Agent) -> None:
    routes = [
        ("GET", "/api/v1/info"),
        ("POST", "/api/v1/runs"),
        ("POST", "/api/v1/blobs/missing"),
        ("PUT", "/api/v1/blobs/" + "0" * 64),
        ("POST", "/api/v1/runs/x/cancel"),
        ("GET", "/no/such/route"),
    ]
    for token in (None, "wrong-token-wrong-token", agent.token + "x"):
        for method, path in routes:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            request = urllib.request.Request(
                agent.address + path,
                data=b"{}" if method != "GET" else None,
                method=method,
                headers=headers,
            )
            with pytest.raises(urllib.error.HTTPError) as info:
                urllib.request.urlopen(request, timeout=10)
            assert info.value.code == 401, (method, path, token)
            assert "token" in json.loads(info.value.read())["message"]
    # With the token, an unknown route is a plain 404.
    request = urllib.request.Request(
        agent.address + "/no/such/route", headers={"Authorization": f"Bearer {agent.token}"}
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=10)
    assert info.value.code == 404


def test_bad_requests_are_refused_and_change_nothing(
    ws: Workspace, box: ComputeInstance, agent: Agent
) -> None:
    client = box.client()
    with pytest.raises(AmlError, match="do not match"):
        client._call("PUT", "/blobs/" + "a" * 64, data=b"not those bytes", length=15)
    assert "a" * 64 not in agent.workspace.blobs
    with pytest.raises(AmlError, match="snapshot_id"):
        client._json(
            "POST",
            "/runs",
            {"id": "r1", "experiment": "e", "snapshot_id": "../x", "definition": {}},
        )
    with pytest.raises(AmlError, match="not in this workspace"):
        client._json(
            "POST",
            "/runs",
            {
                "id": "r1",
                "experiment": "e",
                "snapshot_id": "b" * 64,
                "definition": {"script": "x.py", "maxRunDurationSeconds": 5},
            },
        )
    with pytest.raises(AmlError, match="not JSON"):
        client._call("POST", "/runs", data=b"{nope", length=5)
    assert agent.workspace.store.list_runs() == []
    # Names the agent sends back are checked before anything is written.
    with pytest.raises(AmlError, match=r"\.\."):
        append_chunk(ws.folder, "user_logs/../../evil.txt", b"x", ("user_logs",))
    with pytest.raises(RemoteGone, match="outside"):
        append_chunk(ws.folder, "outputs/x.txt", b"x", ("user_logs",))


def test_cancel_stops_the_run_on_the_instance(
    exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(project, "slow.py", SLOW)
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    deadline = time.monotonic() + 20
    while "started" not in run.read_log() and time.monotonic() < deadline:
        time.sleep(0.1)  # the driver log streams back while the run goes
    assert "started" in run.read_log()
    run.cancel()
    assert wait_status(run, RunStatus.TERMINAL, timeout=30) == RunStatus.CANCELED
    remote = agent.workspace.store.get_run(run.id)
    assert remote.status == RunStatus.CANCELED
    with pytest.raises(ProcessLookupError):
        os.killpg(remote.child_pid, 0)  # the script is gone


def test_the_run_survives_an_agent_restart(
    exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(
        project,
        "wait.py",
        """
        import time
        print("before", flush=True)
        time.sleep(4)
        print("after", flush=True)
    """,
    )
    run = exp.submit(ScriptRunConfig(project, "wait.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    agent.stop()  # the notebook side keeps trying while the agent is away
    time.sleep(1.0)
    agent.start()
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert "before" in run.read_log() and "after" in run.read_log()


def test_a_run_lost_with_the_agent_machine_ends_failed_with_the_reason(
    exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(project, "slow.py", SLOW)
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    # The workstation "reboots": agent, supervisor and script all die at once.
    agent.stop(signal.SIGKILL)
    row = agent.workspace.store.get_run(run.id)
    os.killpg(row.child_pid, signal.SIGKILL)
    os.kill(row.pid, signal.SIGKILL)
    agent.start()
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.FAILED
    assert "ended without finishing" in run.get_details()["error"]["error"]["message"]


def test_an_agent_gone_for_good_ends_the_run_failed(
    exp: Experiment,
    project: Path,
    box: ComputeInstance,
    agent: Agent,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AML_REMOTE_TIMEOUT_SECONDS", "2")  # read by the mirror process
    write(project, "slow.py", SLOW)
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    agent.stop(signal.SIGKILL)
    assert wait_status(run, RunStatus.TERMINAL, timeout=30) == RunStatus.FAILED
    message = run.get_details()["error"]["error"]["message"]
    assert "Lost contact with compute instance 'box'" in message and "may still be going" in message
    _stop_agent_runs(agent)


def test_unreachable_or_wrong_agents_give_clear_errors_and_no_run(
    ws: Workspace, exp: Experiment, project: Path, agent: Agent
) -> None:
    with pytest.raises(AmlError, match="does not answer"):
        ComputeInstance.attach(ws, "nobody", f"http://127.0.0.1:{free_port()}", "t" * 32)
    with pytest.raises(AmlError, match="refused the token"):
        ComputeInstance.attach(ws, "wrong", agent.address, "t" * 32)
    with pytest.raises(AmlError, match="not of the form"):
        ComputeInstance.attach(ws, "bad", "ftp://x/y", agent.token)
    with pytest.raises(AmlError, match="not allowed"):
        ComputeInstance.attach(ws, "local", agent.address, agent.token)
    assert set(ws.compute_targets) == {"local"}
    ComputeInstance.attach(ws, "box", agent.address, agent.token)
    agent.stop()
    write(project, "train.py", TRAIN)
    with pytest.raises(AmlError, match=r"Cannot submit to 'box'.*does not answer"):
        exp.submit(ScriptRunConfig(project, "train.py", compute_target="box"))
    assert ws.store.list_runs() == []
    assert ComputeTarget(ws, "box").get_status() == "Unreachable"


def test_https_agent_with_its_certificate(
    tmp_path: Path, ws: Workspace, exp: Experiment, project: Path
) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    agent = Agent(tmp_path / "tls-agent", free_port(), tmp_path / "tls.token", (cert, key)).start()
    try:
        with pytest.raises(AmlError, match="does not answer"):  # an unknown certificate is refused
            ComputeInstance.attach(ws, "tls", agent.address, agent.token)
        ComputeInstance.attach(ws, "tls", agent.address, agent.token, ca_file=str(cert))
        write(project, "train.py", TRAIN)
        run = exp.submit(ScriptRunConfig(project, "train.py", compute_target="tls"))
        assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    finally:
        agent.stop()


def test_cli_attach_list_detach(
    ws: Workspace, agent: Agent, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = str(ws.folder)
    assert (
        aml(
            [
                "compute",
                "attach",
                "box",
                "--address",
                agent.address,
                "--token-file",
                str(agent.token_file),
                "-w",
                folder,
            ]
        )
        == 0
    )
    assert (ws.folder / "compute" / "box.token").stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert aml(["compute", "list", "--json", "-w", folder]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["box"] == {
        "name": "box",
        "type": "ComputeInstance",
        "address": agent.address,
        "status": "Running",
    }
    assert aml(["compute", "attach", "x2", "--address", agent.address, "-w", folder]) == 2
    assert "token" in capsys.readouterr().err
    assert aml(["compute", "detach", "box", "-w", folder]) == 0
    assert set(Workspace(folder).compute_targets) == {"local"}
    assert not (ws.folder / "compute" / "box.token").exists()
    assert aml(["compute", "detach", "local", "-w", folder]) == 2


def test_torch_all_reduce_on_the_instance(
    exp: Experiment, project: Path, box: ComputeInstance
) -> None:
    pytest.importorskip("torch", reason="torch is installed by `make test`")
    from tests.test_distributed import ALLREDUCE

    shutil.copy(ALLREDUCE, project / "allreduce.py")
    two = PyTorchConfiguration(process_count=2)
    config = ScriptRunConfig(
        project, "allreduce.py", compute_target="box", distributed_job_config=two
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert run.get_metrics() == {"allreduce_sum": 3.0}
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert "rank 1 of 2" in rank1 and "sum = 3" in rank1  # each rank's log came back apart


def test_the_submit_magic_runs_on_the_instance(
    ws: Workspace, project: Path, box: ComputeInstance, monkeypatch: pytest.MonkeyPatch
) -> None:
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    write(project, "train.py", TRAIN)
    monkeypatch.chdir(project)
    ip = start_ipython() or get_ipython()  # one shell per process: a later call gets None
    assert ip is not None
    ip.run_line_magic("load_ext", "aml_jupyter")
    run = ip.run_line_magic("aml_submit", f"train.py -t box -w {ws.folder} --wait")
    assert run.get_status() == RunStatus.COMPLETED and run.get_details()["target"] == "box"
    assert run.get_metrics()["loss"] == [1.0, 0.5, 1.0 / 3]

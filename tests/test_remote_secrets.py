"""``run.get_secret`` in runs on a compute instance (a real agent on 127.0.0.1) and on a Ray
cluster (a real one-node head): the workspace's secrets sealed for the run at submit, their
values in no file, log or API answer on either side, no sealed file left once the run ended.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from aml_jupyter import (
    AmlError,
    ComputeCluster,
    ComputeInstance,
    Experiment,
    PyTorchConfiguration,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.compute.local.sealed_secrets import SEALED_FILE
from aml_jupyter.store.sealed_secrets import seal
from tests.conftest import wait_status, write
from tests.test_compute_instance import Agent, _stop_agent_runs
from tests.test_v1_keyvault import files_holding

#: Reads two secrets (checked against their hashes: the values are in no argument), sees no
#: secret set after the submit, and finds no key in its environment.
READS = """
    import hashlib, os, sys
    from azureml.core import Run
    from aml_jupyter import AmlError
    assert "AML_SEALED_SECRETS_KEY" not in os.environ
    sealed = os.environ["AML_RUN_SECRETS"]  # there while the run goes, its owner's alone
    assert os.path.isfile(sealed) and os.stat(sealed).st_mode & 0o777 == 0o600, sealed
    run = Run.get_context()
    value = run.get_secret("db-password")
    assert hashlib.sha256(value.encode()).hexdigest() == sys.argv[1], "wrong db-password"
    vault = run.experiment.workspace.get_default_keyvault()  # v1's other way, the same copy
    assert vault.get_secret("db-password") == value
    assert [s["name"] for s in vault.list_secrets()] == ["api-key", "db-password"]
    both = run.get_secrets(["db-password", "api-key"])
    assert hashlib.sha256(both["api-key"].encode()).hexdigest() == sys.argv[2], "wrong api-key"
    assert "AML_RUN_SECRETS_FD" not in os.environ  # the pipe is read and closed
    try:
        run.get_secret("set-later")
        sys.exit("a secret set after the submit was seen")
    except AmlError as exc:
        assert "as it was at submit" in str(exc), exc
    print("secrets read:", len(both))
"""

UNKNOWN = """
    from azureml.core import Run
    Run.get_context().get_secret("no-such-secret")
"""


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _set_secrets(ws: Workspace) -> tuple[str, str]:
    values = (f"pw-{secrets.token_hex(16)}", f"key-{secrets.token_hex(16)}")
    ws.get_default_keyvault().set_secrets({"db-password": values[0], "api-key": values[1]})
    return values


def _sealed_files(*folders: Path) -> list[Path]:
    return [p for folder in folders for p in folder.rglob("*.sealed") if p.is_file()]


def _error(ws: Workspace, run_id: str) -> str:
    error = ws.store.get_run(run_id).error or {}
    return str(error.get("message", ""))


# -- compute instance --------------------------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    running = Agent(tmp_path / "agent", free_port(), tmp_path / "agent.token").start()
    yield running
    running.stop()
    _stop_agent_runs(running)


@pytest.fixture
def box(ws: Workspace, agent: Agent) -> ComputeInstance:
    return ComputeInstance.attach(ws, "box", agent.address, agent.token)


@pytest.fixture
def run_keys(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The per-run keys this process's submits make (spied on, not replaced)."""
    from aml_jupyter.compute.local import sealed_secrets

    made: list[str] = []

    def spy(values: dict[str, str], run_id: str) -> tuple[str, bytes]:
        key, token = seal(values, run_id)
        made.append(key)
        return key, token

    monkeypatch.setattr(sealed_secrets, "seal", spy)
    return made


def test_a_script_on_the_instance_reads_the_secrets_sealed_at_submit(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    box: ComputeInstance,
    agent: Agent,
    run_keys: list[str],
) -> None:
    password, api_key = _set_secrets(ws)
    write(project, "reads.py", READS)
    config = ScriptRunConfig(
        project, "reads.py", arguments=[_sha(password), _sha(api_key)], compute_target="box"
    )
    run = exp.submit(config)
    ws.get_default_keyvault().set_secret("set-later", "late-value")  # not the run's
    details = run.wait_for_completion()
    assert details["status"] == RunStatus.COMPLETED, (details, run.read_log())
    assert "secrets read: 2" in run.read_log()
    # The values are in no file here or on the agent (databases, WALs, logs, run folders).
    for value in (password, api_key):
        assert files_holding(ws.folder, value.encode()) == []
        assert files_holding(agent.folder, value.encode()) == []
        assert value not in run.read_log()
    # The run's key went to no file either (memory, a pipe), on neither side.
    assert len(run_keys) == 1
    assert files_holding(ws.folder, run_keys[0].encode()) == []
    assert files_holding(agent.folder, run_keys[0].encode()) == []
    assert _sealed_files(agent.folder) == []  # deleted when the run ended
    assert not (agent.workspace.store.run_folder(run.id).root / SEALED_FILE).exists()
    # ... nor in what the agent's API answers about the run.
    answer = box.client().sync(run.id, {})
    assert password not in json.dumps(answer) and api_key not in json.dumps(answer)


def test_an_unknown_secret_on_the_instance_fails_the_run_saying_so(
    ws: Workspace, exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    _set_secrets(ws)
    write(project, "unknown.py", UNKNOWN)
    run = exp.submit(ScriptRunConfig(project, "unknown.py", compute_target="box"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    assert "No secret named 'no-such-secret'" in _error(ws, run.id)
    assert _sealed_files(agent.folder) == []


def test_a_workspace_without_secrets_sends_none_and_the_script_is_told(
    ws: Workspace, exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(project, "unknown.py", UNKNOWN)
    run = exp.submit(ScriptRunConfig(project, "unknown.py", compute_target="box"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    message = _error(ws, run.id)
    assert "No secret named 'no-such-secret'" in message and "submitted from" in message
    assert _sealed_files(agent.folder) == []


def test_a_run_whose_supervisor_died_on_the_instance_keeps_no_sealed_file(
    ws: Workspace, exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    _set_secrets(ws)
    write(project, "slow.py", "import time\nprint('started', flush=True)\ntime.sleep(60)\n")
    run = exp.submit(ScriptRunConfig(project, "slow.py", compute_target="box"))
    wait_status(run, {RunStatus.RUNNING})
    sealed = agent.workspace.store.run_folder(run.id).root / SEALED_FILE
    assert sealed.is_file()  # there while the run goes
    row = agent.workspace.store.get_run(run.id)
    os.kill(row.pid, signal.SIGKILL)  # the supervisor dies: nobody deletes it at the end
    assert wait_status(run, RunStatus.TERMINAL, timeout=60) == RunStatus.FAILED
    assert not sealed.exists()  # the agent's liveness check ended the run, and deleted it


def test_the_agent_refuses_a_malformed_secrets_field_and_starts_nothing(
    ws: Workspace, exp: Experiment, project: Path, box: ComputeInstance, agent: Agent
) -> None:
    write(project, "hello.py", "print('hi')\n")
    run = exp.submit(ScriptRunConfig(project, "hello.py", compute_target="box"))
    run.wait_for_completion()
    definition = dict(ws.store.get_run(run.id).definition)
    snapshot = str(ws.store.get_run(run.id).snapshot_id)
    for bad in ({"key": "x" * 44, "token": "dG9rZW4="}, {"key": None}, "plain", [1]):
        with pytest.raises(AmlError, match="secrets"):
            box.client().start_run("bad-run", "e", snapshot, definition, {}, bad)  # type: ignore[arg-type]
        with pytest.raises(AmlError):
            agent.workspace.store.get_run("bad-run")
        assert not agent.workspace.store.run_folder("bad-run").root.exists()


# -- Ray cluster -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ray_head() -> Iterator[tuple[str, Path]]:
    """A one-node head (2 CPUs): its job-submission address and its temp folder."""
    pytest.importorskip("ray.job_submission", reason="the cluster target needs ray[default]")
    from aml_jupyter.compute.cluster.ray_local import LocalRayHead
    from tests.raycluster import ray_on_this_machine

    with ray_on_this_machine():
        head = LocalRayHead(num_cpus=2)
        try:
            address = head.start()
            yield address, head.temp
        finally:
            head.stop()
            assert head.pids() == []


@pytest.fixture
def ray_address(ray_head: tuple[str, Path]) -> str:
    return ray_head[0]


def _job_info(address: str, job_id: str) -> str:
    with urllib.request.urlopen(f"{address}/api/jobs/{job_id}", timeout=10) as answer:
        return str(answer.read().decode())


def _driver_scratch() -> list[Path]:
    """The Ray drivers' scratch workspaces (not Ray's own temp folders, named alike)."""
    return [p for p in Path(tempfile.gettempdir()).glob("aml-ray-*") if (p / ".aml").is_dir()]


def test_a_script_on_ray_reads_the_sealed_secrets_and_leaves_no_trace(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    ray_head: tuple[str, Path],
    ray_address: str,
    run_keys: list[str],
) -> None:
    address, temp = ray_head
    ComputeCluster.attach(ws, "ray", address)
    password, api_key = _set_secrets(ws)
    write(project, "reads.py", READS)
    write(project, "unknown.py", UNKNOWN)
    scratch_before = set(_driver_scratch())
    config = ScriptRunConfig(
        project, "reads.py", arguments=[_sha(password), _sha(api_key)], compute_target="ray"
    )
    run = exp.submit(config)
    ws.get_default_keyvault().set_secret("set-later", "late-value")
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == RunStatus.COMPLETED, (details, run.read_log())
    assert "secrets read: 2" in run.read_log()

    unknown = exp.submit(ScriptRunConfig(project, "unknown.py", compute_target="ray"))
    assert unknown.wait_for_completion(raise_on_error=False)["status"] == RunStatus.FAILED
    assert "No secret named 'no-such-secret'" in _error(ws, unknown.id)

    for job in (run.id, unknown.id):
        info = _job_info(address, job)
        assert password not in info and api_key not in info
        assert "AML_SEALED_SECRETS_KEY" in info  # the key alone, as the docstring says
    for value in (password, api_key):
        assert files_holding(ws.folder, value.encode()) == []
        assert files_holding(temp, value.encode()) == []  # Ray's logs, packages, job dirs
    new_scratch = [p for p in _driver_scratch() if p not in scratch_before]
    assert _sealed_files(temp, *new_scratch) == []
    # The key: in the job's runtime_env (above) and nowhere here; on the node at most in Ray's
    # own logs, which echo the runtime_env (the line the module's docstring draws).
    assert len(run_keys) == 2
    for key in run_keys:
        assert files_holding(ws.folder, key.encode()) == []
        assert all("logs" in p.relative_to(temp).parts for p in files_holding(temp, key.encode()))
    # The token came as a package Ray unpacked on the node, and was deleted there once read.
    assert [p for p in temp.rglob("aml_sealed_secrets") if p.is_dir()]


def test_each_rank_of_a_distributed_run_on_ray_reads_the_sealed_secrets(
    ws: Workspace,
    exp: Experiment,
    project: Path,
    ray_head: tuple[str, Path],
    ray_address: str,
) -> None:
    address, temp = ray_head
    ComputeCluster.attach(ws, "ray", address)
    password, api_key = _set_secrets(ws)
    write(project, "reads.py", READS)
    config = ScriptRunConfig(
        project,
        "reads.py",
        arguments=[_sha(password), _sha(api_key)],
        compute_target="ray",
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    run = exp.submit(config)
    ws.get_default_keyvault().set_secret("set-later", "late-value")
    details = run.wait_for_completion(raise_on_error=False)
    rank1 = run.folder / "user_logs" / "std_log_process_1.txt"
    assert details["status"] == RunStatus.COMPLETED, (details, run.read_log())
    # Each rank's actor got its own copy from the driver and handed its script the key.
    assert "secrets read: 2" in run.read_log() and "secrets read: 2" in rank1.read_text()
    info = _job_info(address, run.id)
    for value in (password, api_key):
        assert value not in info
        assert files_holding(ws.folder, value.encode()) == []
        assert files_holding(temp, value.encode()) == []
    assert _sealed_files(temp) == []
    assert not [p for p in Path(tempfile.gettempdir()).glob("aml-rank*-") if _sealed_files(p)]

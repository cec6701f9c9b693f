"""Docker environments: runs in containers of an image built from the environment, on a real
engine (``make docker`` starts one and builds the base image; with none, these tests skip)."""

from __future__ import annotations

import importlib.util
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import remove_built_images, wait_status, write

from aml_jupyter import (
    AmlError,
    Environment,
    Experiment,
    PyTorchConfiguration,
    ScriptRunConfig,
)
from aml_jupyter.compute.local import container
from aml_jupyter.environments import docker_image as dockerenv


def _engine() -> tuple[Any, str]:
    """The engine, or None and why the tests cannot run."""
    try:
        engine = dockerenv.client(timeout=10)
    except AmlError:
        return None, "no docker engine answers (as root, `make docker` installs and starts one)"
    base = dockerenv.base_image({"docker": {}})
    if dockerenv._find(engine, base) is None:
        return None, f"no base image {base}: `make docker` or `sudo scripts/build_base_image.sh`"
    return engine, ""


ENGINE, WHY = _engine()
pytestmark = pytest.mark.skipif(ENGINE is None, reason=WHY)

#: In the image only: the host does not have it (checked below), so importing it proves where
#: the script ran.
PACKAGE = "pyjokes==0.8.3"

PROBE = """
import json, os, sys
from azureml.core import Run
run = Run.get_context()
run.log("answer", 42)
with open("outputs/result.txt", "w") as f:
    f.write("from the container")
import pyjokes
print(json.dumps({
    "in_image": os.path.exists("/etc/aml-environment.json"),
    "python": sys.executable,
    "pyjokes": bool(pyjokes.get_joke()),
    "uid": os.getuid(),
    "cwd": os.getcwd(),
    "var": os.environ.get("MY_SETTING"),
    "path": os.environ["PATH"],
}))
"""


def docker_env(name: str = "in-docker") -> Environment:
    env = Environment(name)
    env.docker.enabled = True
    env.python.conda_dependencies.add_pip_package(PACKAGE)
    return env


@pytest.fixture(scope="module", autouse=True)
def remove_images() -> Iterator[None]:
    """The environment images these tests build go away with them (never the base image)."""
    yield
    bare = Environment.from_docker_image("bare", dockerenv.DEFAULT_BASE_IMAGE)
    remove_built_images(ENGINE, *(dockerenv.image_name(e._spec()) for e in (docker_env(), bare)))


@pytest.fixture(autouse=True)
def no_containers_left() -> Iterator[None]:
    """Every test leaves no container of its runs behind (and cleans up if one did)."""
    yield
    left = ENGINE.containers.list(all=True, filters={"label": container.RUN_LABEL})
    for c in left:
        c.remove(force=True)
    assert not left, f"containers left: {[c.name for c in left]}"


def result(run: Any) -> dict[str, Any]:
    return json.loads(run.read_log().strip().splitlines()[-1])


def test_a_run_executes_in_the_image_and_reports_like_a_local_run(
    exp: Experiment, project: Path
) -> None:
    assert importlib.util.find_spec("pyjokes") is None  # not on the host
    assert not Path("/etc/aml-environment.json").exists()
    write(project, "probe.py", PROBE)
    env = docker_env()
    env.environment_variables = {"MY_SETTING": "on"}
    run = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    assert run.wait_for_completion()["status"] == "Completed", run.read_log()
    out = result(run)
    assert out == {
        "in_image": True,
        "python": "/usr/bin/python3",
        "pyjokes": True,
        "uid": os.getuid(),
        "cwd": str(exp.workspace.store.run_folder(run.id).work),
        "var": "on",
        "path": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",  # the image's
    }
    assert run.get_metrics() == {"answer": 42}
    got = run.download_file("outputs/result.txt", str(project / "result.txt"))
    assert Path(got).read_text() == "from the container"
    driver_log = run.read_log()
    assert "[aml] Preparing environment 'in-docker': building its docker image" in driver_log
    build_log = run.download_file("user_logs/environment_build.txt", str(project / "build.txt"))
    assert f"Successfully tagged aml-env:{env.hash}" in Path(build_log).read_text()
    image_id = ENGINE.images.get(f"aml-env:{env.hash}").id

    again = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    assert again.wait_for_completion()["status"] == "Completed", again.read_log()
    assert result(again)["pyjokes"] is True
    assert "user_logs/environment_build.txt" not in again.get_file_names()  # no build
    assert "Preparing environment" not in again.read_log()  # no build the second time
    assert again.read_log().startswith("[aml] Python: /usr/bin/python3 (in image aml-env:")
    assert ENGINE.images.get(f"aml-env:{env.hash}").id == image_id


def test_a_user_managed_docker_environment_runs_in_the_base_image_as_it_is(
    exp: Experiment, project: Path
) -> None:
    write(project, "where.py", "import sys; print(sys.executable)\n")
    env = Environment.from_docker_image("bare", dockerenv.DEFAULT_BASE_IMAGE)
    env.python.user_managed_dependencies = True
    run = exp.submit(ScriptRunConfig(project, "where.py", environment=env))
    assert run.wait_for_completion()["status"] == "Completed", run.read_log()
    # The image's Python, not the host's; the driver log's first line says so too.
    assert run.read_log().strip().splitlines()[-1] == "/usr/bin/python"
    assert "user_logs/environment_build.txt" not in run.get_file_names()


@pytest.mark.parametrize("on_sigterm", ["dies", "ignores it"])
def test_cancel_stops_the_container(exp: Experiment, project: Path, on_sigterm: str) -> None:
    ignore = "signal.signal(signal.SIGTERM, signal.SIG_IGN)" if on_sigterm == "ignores it" else ""
    write(
        project,
        "wait.py",
        f"import signal, time\n{ignore}\nprint('started', flush=True)\ntime.sleep(120)\n",
    )
    run = exp.submit(ScriptRunConfig(project, "wait.py", environment=docker_env()))
    wait_status(run, {"Running"}, timeout=120)
    _wait_for(lambda: "started" in run.read_log())
    assert ENGINE.containers.list(filters={"label": f"{container.RUN_LABEL}={run.id}"})
    run.cancel()
    assert wait_status(run, {"Canceled", "Failed", "Completed"}) == "Canceled"
    assert not ENGINE.containers.list(
        all=True, filters={"label": f"{container.RUN_LABEL}={run.id}"}
    )


def test_max_run_duration_stops_the_container(exp: Experiment, project: Path) -> None:
    write(project, "slow.py", "import time\ntime.sleep(120)\n")
    config = ScriptRunConfig(project, "slow.py", environment=docker_env())
    config.max_run_duration_seconds = 3
    details = exp.submit(config).wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["error"]["code"] == "MaxRunDurationExceeded"


def test_a_failing_script_fails_the_run_with_its_exception(exp: Experiment, project: Path) -> None:
    write(project, "bad.py", "raise ValueError('no such column: price')\n")
    run = exp.submit(ScriptRunConfig(project, "bad.py", environment=docker_env()))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert details["error"]["error"]["message"] == (
        "Script exited with code 1: ValueError: no such column: price"
    )


def test_distributed_ranks_run_in_containers_on_the_host_network(
    exp: Experiment, project: Path
) -> None:
    write(
        project,
        "ranks.py",
        """
        import os, socket, time
        rank, port = int(os.environ["RANK"]), int(os.environ["MASTER_PORT"])
        if rank == 0:
            with socket.create_server((os.environ["MASTER_ADDR"], port)) as server:
                conn, _ = server.accept()
                print("rank 0 got", conn.recv(100).decode())
        else:
            for _ in range(200):
                try:
                    with socket.create_connection(("127.0.0.1", port)) as c:
                        c.sendall(b"hello from rank 1")
                        break
                except ConnectionRefusedError:
                    time.sleep(0.05)
        """,
    )
    config = ScriptRunConfig(
        project,
        "ranks.py",
        environment=docker_env(),
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    run = exp.submit(config)
    assert run.wait_for_completion()["status"] == "Completed", run.read_log()
    assert "rank 0 got hello from rank 1" in run.read_log()


def test_one_failing_rank_stops_the_other_containers(exp: Experiment, project: Path) -> None:
    write(
        project,
        "ranks.py",
        """
        import os, sys, time
        if os.environ["RANK"] == "1":
            time.sleep(1)
            sys.exit("rank 1 gives up")
        time.sleep(120)
        """,
    )
    config = ScriptRunConfig(
        project,
        "ranks.py",
        environment=docker_env(),
        distributed_job_config=PyTorchConfiguration(process_count=2),
    )
    details = exp.submit(config).wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    assert (
        details["error"]["error"]["message"]
        == "Process 1 of 2: Script exited with code 1: rank 1 gives up"
    )


def test_no_engine_is_refused_at_submit_with_no_run(
    exp: Experiment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "hello.py", "print('hello')\n")
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    with pytest.raises(AmlError, match=r"No docker engine answers at unix://.*make docker"):
        exp.submit(ScriptRunConfig(project, "hello.py", environment=docker_env()))
    assert list(exp.get_runs()) == []


def test_a_missing_base_image_is_refused_at_submit(exp: Experiment, project: Path) -> None:
    write(project, "hello.py", "print('hello')\n")
    env = Environment.from_docker_image("elsewhere", "aml-tests/not-here:1")
    with pytest.raises(AmlError, match=r"'aml-tests/not-here:1'.*build_base_image.sh"):
        exp.submit(ScriptRunConfig(project, "hello.py", environment=env))
    assert list(exp.get_runs()) == []


def _wait_for(condition: Any, timeout: float = 60) -> None:
    import time

    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)

"""Environments: the registry, and real uv builds from PyPI into cached virtualenvs."""

from __future__ import annotations

import json
import os
import re
import sys
import threading
from pathlib import Path

import pytest
from conftest import write

from aml_jupyter import (
    AmlError,
    CondaDependencies,
    Environment,
    Experiment,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.environments import build as envbuild

#: A build needs PyPI (six: tiny, pure Python).
PACKAGE = "six==1.16.0"

PROBE = """
import json, os, sys
from azureml.core import Run   # v1 import, inside the built environment
run = Run.get_context()
run.log("answer", 42)
try:
    import pandas  # the submitter has it; a built environment must not
    isolated = False
except ImportError:
    isolated = True
import six
print(json.dumps({"six": six.__version__, "isolated": isolated, "python": sys.executable,
                  "var": os.environ.get("MY_SETTING")}))
"""


def result(run) -> dict:
    return json.loads(run.read_log().strip().splitlines()[-1])


def test_register_get_list_and_versions(ws: Workspace, tmp_path: Path) -> None:
    req = write(tmp_path, "requirements.txt", "# deps\nsix==1.16.0\n\ntomli  # inline\n")
    env = Environment.from_pip_requirements("train", req)
    # The file is kept as it is, for uv to read (tests/test_environment_specs.py builds one).
    assert env.python.conda_dependencies.pip_packages == []
    assert env.python.conda_dependencies._requirements["files"] == {
        "requirements.txt": req.read_text()
    }
    first = env.register(ws)
    assert first.version == "1"
    assert env.register(ws).version == "1"  # same content, same version
    env.environment_variables["MODE"] = "fast"
    second = env.register(ws)
    assert second.version == "2"
    assert Environment.get(ws, "train").version == "2"
    assert Environment.get(ws, "train", version=1).environment_variables == {}
    assert Environment.get(ws, "train").environment_variables == {"MODE": "fast"}
    assert first.hash == second.hash  # variables do not change the build
    assert list(ws.environments) == ["train"]
    with pytest.raises(AmlError, match=r"No environment 'nope'.*train:1, train:2"):
        Environment.get(ws, "nope")
    clone = second.clone("other")
    assert (clone.name, clone.version) == ("other", None)
    assert (
        clone.python.conda_dependencies._requirements == env.python.conda_dependencies._requirements
    )
    assert Environment.get(ws, "train").hash == env.hash  # the kept file survives the registry


def test_conda_specification_reads_python_pip_and_conda_parts(tmp_path: Path) -> None:
    spec = write(
        tmp_path,
        "environment.yml",
        """
        name: demo
        channels: [conda-forge]
        dependencies:
          - python=3.11
          - pip
          - conda-forge::numpy=1.26
          - pip:
            - six==1.16.0
        """,
    )
    env = Environment.from_conda_specification("demo", spec)
    deps = env.python.conda_dependencies
    assert deps.get_python_version() == "3.11"
    assert deps.pip_packages == ["six==1.16.0"]
    assert deps.conda_packages == ["conda-forge::numpy=1.26"]
    from aml_jupyter.environments.requirements import pip_requirements

    assert pip_requirements(env._spec()) == ["six==1.16.0", "numpy==1.26.*"]
    again = CondaDependencies._from_yaml(deps.serialize_to_string(), "x")
    assert again._spec() == deps._spec()
    with pytest.raises(AmlError, match="no 'dependencies:' list"):
        Environment.from_conda_specification("bad", write(tmp_path, "bad.yml", "name: x\n"))


def test_a_run_builds_once_is_isolated_and_reuses_the_build(exp: Experiment, project: Path) -> None:
    write(project, "probe.py", PROBE)
    env = Environment("tiny")
    env.python.conda_dependencies.add_pip_package(PACKAGE)
    env.environment_variables = {"MY_SETTING": "on"}
    run = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    assert run.wait_for_completion()["status"] == "Completed", run.read_log()
    out = result(run)
    assert out == {
        "six": "1.16.0",
        "isolated": True,
        "python": str(exp.workspace.folder / "envs" / env.hash / "bin" / "python"),
        "var": "on",
    }
    assert run.get_metrics() == {"answer": 42}
    driver_log = run.read_log()
    assert "[aml] Preparing environment 'tiny': building it with uv" in driver_log
    assert "[aml] Environment 'tiny' ready in" in driver_log
    # uv's own lines reach the driver log as the build goes (the widget and sidebar show it).
    assert "[aml]   $ uv pip install" in driver_log
    assert re.search(r"^\[aml\]   (Resolved|Installed) \d+ package", driver_log, re.M), driver_log
    assert "user_logs/environment_build.txt" in run.get_file_names()
    log = Path(run.download_file("user_logs/environment_build.txt", str(project / "b1.txt")))
    assert "Environment ready" in log.read_text()
    assert run.get_environment().python.conda_dependencies.pip_packages == [PACKAGE]

    ready = exp.workspace.folder / "envs" / env.hash / envbuild.READY
    built_at = ready.stat().st_mtime_ns
    again = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    assert again.wait_for_completion()["status"] == "Completed"
    assert result(again)["six"] == "1.16.0"
    assert ready.stat().st_mtime_ns == built_at  # not rebuilt
    assert "user_logs/environment_build.txt" not in again.get_file_names()
    assert "[aml] Preparing" not in again.read_log()


def test_concurrent_submits_of_a_new_environment_build_it_once(
    exp: Experiment, project: Path
) -> None:
    write(project, "probe.py", PROBE)
    env = Environment("shared")
    env.python.conda_dependencies.add_pip_package(PACKAGE)
    env.python.conda_dependencies.add_pip_package("tomli")  # a hash of its own
    runs = []
    threads = [
        threading.Thread(
            target=lambda: runs.append(
                exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
            )
        )
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for run in runs:
        assert run.wait_for_completion()["status"] == "Completed", run.read_log()
    logs = []
    for i, run in enumerate(runs):
        path = run.download_file("user_logs/environment_build.txt", str(project / f"l{i}.txt"))
        logs.append(Path(path).read_text())
    assert sum("Environment ready" in text for text in logs) == 1
    assert sum("reusing it" in text for text in logs) == 2


def test_a_missing_python_fails_at_submit_and_leaves_no_run(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    write(project, "probe.py", PROBE)
    spec = write(tmp_path, "old.yml", "dependencies:\n  - python=3.4\n  - pip:\n    - six\n")
    env = Environment.from_conda_specification("old", spec)
    with pytest.raises(AmlError, match=r"asks for Python 3.4, which this machine does not have"):
        exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    assert exp.workspace.store.count_runs() == 0


def test_an_unknown_package_fails_the_run_with_its_name(exp: Experiment, project: Path) -> None:
    write(project, "probe.py", PROBE)
    env = Environment("broken")
    env.python.conda_dependencies.add_pip_package("aml-jupyter-no-such-package-xyz")
    run = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    assert "aml-jupyter-no-such-package-xyz" in message
    assert "Building environment 'broken' failed" in message
    assert not (exp.workspace.folder / "envs" / env.hash / envbuild.READY).exists()


def test_conda_only_packages_are_named_with_what_to_do(exp: Experiment, project: Path) -> None:
    write(project, "probe.py", PROBE)
    env = Environment("conda")
    env.python.conda_dependencies.add_conda_package("aml-jupyter-conda-only-xyz=1.0")
    run = exp.submit(ScriptRunConfig(project, "probe.py", environment=env))
    message = run.wait_for_completion(raise_on_error=False)["error"]["error"]["message"]
    assert "aml-jupyter-conda-only-xyz is not on PyPI" in message
    assert "conda-only packages cannot be installed without conda" in message


def test_user_managed_uses_the_interpreter_as_it_is(exp: Experiment, project: Path) -> None:
    write(project, "which.py", "import sys; print(sys.executable)\n")
    env = Environment("mine")
    env.python.user_managed_dependencies = True
    env.python.interpreter_path = sys.executable
    run = exp.submit(ScriptRunConfig(project, "which.py", environment=env))
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.read_log().strip().splitlines()[-1] == sys.executable
    env.python.interpreter_path = "/no/such/python"
    with pytest.raises(AmlError, match="not an executable here"):
        exp.submit(ScriptRunConfig(project, "which.py", environment=env))


def test_docker_environments_with_no_engine_are_refused_at_submit(
    exp: Experiment, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Runs in docker are tested in test_docker.py; here, with no engine, the fix is named.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{project}/no-engine.sock")
    write(project, "which.py", "print(1)\n")
    env = Environment.from_docker_image("img", "python:3.11-slim")
    with pytest.raises(AmlError, match=r"docker\.enabled"):
        exp.submit(ScriptRunConfig(project, "which.py", environment=env))
    assert exp.workspace.store.count_runs() == 0


def test_a_registered_name_works_as_environment(exp: Experiment, project: Path) -> None:
    write(project, "env.py", "import os; print(os.environ['STAGE'])\n")
    env = Environment("named")
    env.python.user_managed_dependencies = True
    env.environment_variables = {"STAGE": "registered"}
    env.register(exp.workspace)
    run = exp.submit(ScriptRunConfig(project, "env.py", environment="named:1"))
    assert run.wait_for_completion()["status"] == "Completed"
    assert run.read_log().strip().splitlines()[-1] == "registered"
    assert os.environ.get("STAGE") is None


def test_the_cli_submits_into_an_environment_and_lists_them(ws: Workspace, project: Path) -> None:
    import subprocess

    write(project, "probe.py", PROBE)
    env = Environment("cli-env")
    env.python.conda_dependencies.add_pip_package(PACKAGE)
    env.register(ws)

    def aml(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aml_jupyter", *args],
            cwd=ws.folder.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )

    listed = json.loads(aml("env", "list", "--json").stdout)
    assert [(r["name"], r["version"], r["built"]) for r in listed] == [("cli-env", "1", False)]
    done = aml("run", "submit-script", str(project / "probe.py"), "--env", "cli-env", "--wait")
    assert done.returncode == 0, done.stderr
    assert '"isolated": true' in done.stdout
    listed = json.loads(aml("env", "list", "--json").stdout)
    assert listed[0]["built"] is True
    shown = json.loads(aml("env", "show", "cli-env:1").stdout)
    assert shown["python"]["conda_dependencies"]["pip"] == [PACKAGE]
    missing = aml("run", "submit-script", str(project / "probe.py"), "--env", "nope")
    assert missing.returncode != 0
    assert "No environment 'nope'" in missing.stderr

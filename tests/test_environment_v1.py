"""Environment's v1 surface: CondaDependencies files, from_docker_image/from_dockerfile,
from_existing_conda_environment, save/load_from_directory, labels, build_local and the curated
names (real runs and a real uv build; Docker only where an engine answers)."""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pytest
import yaml
from conftest import remove_built_images, write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import (
    AmlError,
    CondaDependencies,
    Environment,
    Experiment,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.environments import docker_image as dockerenv

CONDA_YML = """\
name: train-env
channels:
  - conda-forge
dependencies:
  - python=3.11
  - numpy=1.26
  - pip
  - pip:
    - --extra-index-url https://example.org/simple
    - six==1.16.0
"""


# CondaDependencies -------------------------------------------------------------------------------
def test_conda_dependencies_reads_a_file_both_ways_and_saves_it(tmp_path: Path) -> None:
    path = write(tmp_path, "env.yml", CONDA_YML)
    for deps in (
        CondaDependencies(str(path)),
        CondaDependencies(conda_dependencies_file_path=path),
    ):
        assert deps.get_python_version() == "3.11"
        assert deps.conda_packages == ["numpy=1.26"] and deps.pip_packages == ["six==1.16.0"]
        assert deps.conda_channels == ["conda-forge"]
        assert deps.pip_options == ["--extra-index-url https://example.org/simple"]
    deps.add_channel("pytorch")
    deps.add_channel("pytorch")  # once
    saved = deps.save(tmp_path / "out.yml")
    again = CondaDependencies(saved)
    assert again == deps and again.conda_channels == ["conda-forge", "pytorch"]
    doc = yaml.safe_load(Path(saved).read_text())
    assert doc["name"] == "train-env" and doc["channels"] == ["conda-forge", "pytorch"]
    assert CondaDependencies(saved).serialize_to_string() == deps.serialize_to_string()
    with pytest.raises(AmlError, match="is not a file"):
        CondaDependencies(tmp_path / "nope.yml")
    bad = write(tmp_path, "bad.yml", "dependencies:\n  - {conda: x}\n")
    with pytest.raises(AmlError, match=r"bad\.yml: field 'dependencies' cannot hold"):
        CondaDependencies(bad)


def test_create_takes_v1s_arguments() -> None:
    deps = CondaDependencies.create(
        pip_indexurl="https://example.org/simple",
        pip_packages=["six"],
        conda_packages=["numpy"],
        python_version="3.11",
    )
    assert deps.pip_options == ["--index-url https://example.org/simple"]
    assert deps._spec()["pip"] == ["--index-url https://example.org/simple", "six"]
    deps.remove_pip_package("six")
    deps.remove_conda_package("numpy")
    assert deps.pip_packages == [] and deps.conda_packages == []


_name = st.from_regex(r"[a-z][a-z0-9_-]{0,10}", fullmatch=True).filter(
    lambda n: n not in ("pip", "python")
)


@settings(max_examples=80, deadline=None)
@given(
    pip=st.lists(_name, max_size=4, unique=True),
    conda=st.lists(_name.map(lambda n: n + "=1.0"), max_size=3, unique=True),
    channels=st.lists(_name, max_size=2, unique=True),
    python=st.sampled_from([None, "3.10", "3.11.4"]),
)
def test_serialize_then_parse_gives_the_same_dependencies(
    pip: list[str], conda: list[str], channels: list[str], python: str | None
) -> None:
    deps = CondaDependencies.create(pip_packages=pip, conda_packages=conda, python_version=python)
    for channel in channels:
        deps.add_channel(channel)
    assert CondaDependencies._from_yaml(deps.serialize_to_string(), "x") == deps


# from_docker_image / from_dockerfile -------------------------------------------------------------
def test_from_docker_image_honours_its_pip_and_conda_arguments(tmp_path: Path) -> None:
    req = write(tmp_path, "requirements.txt", "six==1.16.0\n")
    conda = write(tmp_path, "env.yml", CONDA_YML)
    bare = Environment.from_docker_image("bare", "img:1")
    assert bare.docker.enabled and bare.python.user_managed_dependencies  # the image as it is
    with_pip = Environment.from_docker_image("p", "img:1", pip_requirements=req)
    assert not with_pip.python.user_managed_dependencies
    assert with_pip.python.conda_dependencies._requirements["files"] == {
        "requirements.txt": "six==1.16.0\n"
    }
    both = Environment.from_docker_image(
        "b", "img:1", conda_specification=conda, pip_requirements=req
    )
    deps = both.python.conda_dependencies
    assert deps.pip_packages == ["six==1.16.0"] and deps._requirements is not None
    assert deps.get_python_version() == "3.11"
    assert len({bare.hash, with_pip.hash, both.hash}) == 3


def test_from_dockerfile_takes_text_or_a_path(tmp_path: Path) -> None:
    text = "FROM aml-jupyter/python:3.11\nRUN echo built > /built.txt\n"
    path = write(tmp_path, "Dockerfile", text)
    from_text = Environment.from_dockerfile("df", text)
    from_path = Environment.from_dockerfile("df", path)
    assert from_text.docker.base_dockerfile == from_path.docker.base_dockerfile == text
    assert from_text.hash == from_path.hash != Environment.from_docker_image("x", "i").hash
    spec = from_text._spec()
    assert dockerenv.base_image(spec).startswith("aml-dockerfile:")
    other = Environment.from_dockerfile("df", text + "RUN true\n")
    assert dockerenv.base_image(other._spec()) != dockerenv.base_image(spec)
    with pytest.raises(AmlError, match="no FROM line"):
        Environment.from_dockerfile("df", "RUN echo hi\n")
    # An environment that never had a Dockerfile keeps the spec (and hash) it had before.
    assert "base_dockerfile" not in Environment("plain")._spec()["docker"]


def _engine() -> object | None:
    try:
        engine = dockerenv.client(timeout=10)
    except AmlError:
        return None
    return engine if dockerenv._find(engine, dockerenv.DEFAULT_BASE_IMAGE) else None


def test_a_dockerfile_environment_runs_in_the_image_it_builds(
    exp: Experiment, project: Path
) -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no docker engine or base image (as root, `make docker` makes both)")
    text = f"FROM {dockerenv.DEFAULT_BASE_IMAGE}\nRUN echo built-here > /built.txt\n"
    env = Environment.from_dockerfile("from-df", text)
    write(project, "read.py", "print(open('/built.txt').read().strip())")
    try:
        run = exp.submit(ScriptRunConfig(project, "read.py", environment=env))
        assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
        assert "built-here" in run.read_log()
    finally:
        remove_built_images(engine, dockerenv.base_image(env._spec()))


# from_existing_conda_environment ------------------------------------------------------------------
def test_no_conda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CONDA_EXE", raising=False)
    monkeypatch.delenv("MAMBA_EXE", raising=False)
    with pytest.raises(AmlError, match=r"conda was not found.*from_conda_specification"):
        Environment.from_existing_conda_environment("e", "myenv")


def test_an_existing_conda_environment_runs_with_its_python(
    exp: Experiment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # conda itself cannot be installed here (no conda channel is reachable): a stand-in answers
    # `conda env list --json` as conda does, over a real prefix whose python is this one.
    prefix = tmp_path / "envs" / "myenv"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "python").symlink_to(sys.executable)
    conda = tmp_path / "bin" / "conda"
    conda.parent.mkdir()
    conda.write_text(
        f"#!/bin/sh\necho '{json.dumps({'envs': [str(tmp_path / 'base'), str(prefix)]})}'\n"
    )
    conda.chmod(conda.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("CONDA_EXE", str(conda))
    env = Environment.from_existing_conda_environment("conda-env", "myenv")
    assert env.python.user_managed_dependencies
    assert env.python.interpreter_path == str(prefix / "bin" / "python")
    write(project, "where.py", "import sys; print('python', sys.executable)")
    run = exp.submit(ScriptRunConfig(project, "where.py", environment=env))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert f"python {prefix / 'bin' / 'python'}" in run.read_log()
    with pytest.raises(AmlError, match=r"No conda environment 'other'.*knows: base, myenv"):
        Environment.from_existing_conda_environment("e", "other")


# save_to_directory / load_from_directory ----------------------------------------------------------
def test_save_to_directory_writes_v1s_layout(tmp_path: Path) -> None:
    env = Environment.from_conda_specification("train", write(tmp_path, "env.yml", CONDA_YML))
    env.environment_variables["K"] = "v"
    env.docker.base_dockerfile = "FROM x\n"
    folder = tmp_path / "saved"
    env.save_to_directory(folder)
    assert sorted(p.name for p in folder.iterdir()) == [
        "Dockerfile",
        "azureml_environment.json",
        "conda_dependencies.yml",
    ]
    doc = json.loads((folder / "azureml_environment.json").read_text())
    assert doc["name"] == "train" and doc["environmentVariables"] == {"K": "v"}
    assert doc["python"]["condaDependenciesFile"] == "conda_dependencies.yml"
    back = Environment.load_from_directory(folder)
    assert back.hash == env.hash and back.environment_variables == {"K": "v"}
    with pytest.raises(AmlError, match=r"already exist.*overwrite=True"):
        env.save_to_directory(folder)
    env.save_to_directory(folder, overwrite=True)
    with pytest.raises(AmlError, match=r"holds no azureml_environment.json"):
        Environment.load_from_directory(tmp_path)
    (folder / "azureml_environment.json").write_text('{"name": "x", "python": [1]}')
    with pytest.raises(AmlError, match=r"azureml_environment.json: python must be a mapping"):
        Environment.load_from_directory(folder)


def test_a_kept_requirements_file_is_saved_as_its_lines(tmp_path: Path) -> None:
    write(tmp_path, "base.txt", "six==1.16.0\n")
    req = write(tmp_path, "requirements.txt", "-r base.txt\ntomli\n")
    env = Environment.from_pip_requirements("req", req)
    env.save_to_directory(tmp_path / "out")
    back = Environment.load_from_directory(tmp_path / "out")
    assert back.python.conda_dependencies.pip_packages == ["six==1.16.0", "tomli"]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=_name,
    pip=st.lists(_name, max_size=3, unique=True),
    variables=st.dictionaries(_name, st.text(max_size=10), max_size=3),
    user_managed=st.booleans(),
    docker=st.booleans(),
)
def test_save_then_load_from_directory_round_trips(
    tmp_path: Path, name: str, pip: list[str], variables: dict, user_managed: bool, docker: bool
) -> None:
    env = Environment(name)
    env.python.conda_dependencies = CondaDependencies.create(pip_packages=pip)
    env.python.user_managed_dependencies = user_managed
    env.environment_variables = variables
    env.docker.enabled = docker
    env.save_to_directory(tmp_path / "rt", overwrite=True)
    back = Environment.load_from_directory(tmp_path / "rt")
    assert back._spec() == {**env._spec(), "version": back.version}


# labels --------------------------------------------------------------------------------------------
def test_labels_name_one_version_and_move(ws: Workspace) -> None:
    env = Environment("labelled")
    env.register(ws)
    env.environment_variables["V"] = "2"
    env.register(ws)
    env.label(ws, "labelled", 1, ["prod", "stable"])
    assert Environment.get(ws, "labelled", label="prod").version == "1"
    assert Environment.get(ws, "labelled").version == "2"
    env.label(ws, "labelled", "2", "prod")
    assert Environment.get(ws, "labelled", label="prod").version == "2"
    assert Environment.get(ws, "labelled", version=1).labels == ["stable"]
    # Labels are not content: registering version 2's content again is still version 2.
    assert env.register(ws).version == "2"
    with pytest.raises(AmlError, match="has the label 'gone'"):
        Environment.get(ws, "labelled", label="gone")
    with pytest.raises(AmlError, match="No environment 'labelled:9'"):
        env.label(ws, "labelled", 9, ["x"])
    with pytest.raises(AmlError, match="version= or label="):
        Environment.get(ws, "labelled", version=1, label="prod")


# build_local ---------------------------------------------------------------------------------------
def test_build_local_builds_what_a_run_then_reuses(
    exp: Experiment, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = Environment("built-ahead")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    log = env.build_local(exp.workspace)
    assert "Building environment 'built-ahead'" in log
    assert "ready:" in capsys.readouterr().out
    write(project, "six_.py", "import six; print('six', six.__version__)")
    run = exp.submit(ScriptRunConfig(project, "six_.py", environment=env))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "six 1.16.0" in run.read_log()
    build_log = run.folder / "user_logs" / "environment_build.txt"
    assert not build_log.exists() or "Building environment" not in build_log.read_text()


# curated names --------------------------------------------------------------------------------------
def test_curated_names_resolve_to_local_equivalents(exp: Experiment, project: Path) -> None:
    ws = exp.workspace
    minimal = Environment.get(ws, "AzureML-Minimal")
    assert minimal.python.user_managed_dependencies
    sklearn = Environment.get(ws, "AzureML-sklearn-1.0-ubuntu20.04-py38-cpu")
    assert sklearn.python.conda_dependencies.pip_packages == ["scikit-learn", "pandas", "joblib"]
    assert sklearn.python.user_managed_dependencies  # all three are installed here: no build
    write(project, "fit.py", "import sklearn; print('fit with', sklearn.__version__)")
    run = exp.submit(ScriptRunConfig(project, "fit.py", environment=sklearn))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "fit with" in run.read_log()
    tensorflow = Environment.get(ws, "AzureML-TensorFlow-2.3-cpu")
    assert tensorflow.python.conda_dependencies.pip_packages == ["tensorflow"]
    if not _installed("tensorflow"):
        assert not tensorflow.python.user_managed_dependencies  # built with uv when run
    assert Environment.get(ws, "AzureML-Tutorial").name == "AzureML-Tutorial"
    assert Environment.get(ws, "AzureML-pytorch-1.10-ubuntu18.04-py38-cuda11-gpu") is not None
    with pytest.raises(AmlError, match=r"no local equivalent.*azureml-sklearn"):
        Environment.get(ws, "AzureML-Chainer-5.1.0-GPU")
    # A registered environment of that name wins over the curated one.
    mine = Environment("AzureML-Minimal")
    mine.environment_variables["MINE"] = "1"
    mine.register(ws)
    assert Environment.get(ws, "AzureML-Minimal").environment_variables == {"MINE": "1"}


def _installed(package: str) -> bool:
    from aml_jupyter.environments.installed import installed_version

    return installed_version(package) is not None


def test_sdk_packages_are_not_installed(tmp_path: Path) -> None:
    from aml_jupyter.environments.requirements import pip_requirements

    env = Environment("v1")
    for p in ["azureml-defaults", "azureml-core==1.61.0", "azureml_mlflow", "six"]:
        env.python.conda_dependencies.add_pip_package(p)
    assert pip_requirements(env._spec(), tmp_path) == ["six"]
    assert os.path.basename(sys.executable)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-2, 3) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=10,
)
_env_keys = st.sampled_from(
    ["name", "version", "environmentVariables", "python", "docker", "spark", "r"]
)
_section_keys = st.sampled_from(
    ["userManagedDependencies", "interpreterPath", "condaDependencies", "enabled", "baseImage"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    doc=st.dictionaries(
        _env_keys, _json | st.dictionaries(_section_keys, _json, max_size=3), max_size=5
    )
)
def test_any_environment_json_loads_or_is_refused_with_an_aml_error(
    tmp_path: Path, doc: dict
) -> None:
    folder = tmp_path / "fuzz"
    folder.mkdir(exist_ok=True)
    (folder / "azureml_environment.json").write_text(json.dumps(doc))
    try:
        env = Environment.load_from_directory(folder)
    except AmlError as e:
        assert "azureml_environment.json" in str(e) or "conda" in str(e)
        return
    env.save_to_directory(tmp_path / "again", overwrite=True)
    assert Environment.load_from_directory(tmp_path / "again").hash == env.hash


@settings(max_examples=150, deadline=None)
@given(
    doc=st.dictionaries(st.sampled_from(["name", "channels", "dependencies"]), _json, max_size=3)
)
def test_any_conda_file_parses_or_is_refused_with_an_aml_error(doc: dict) -> None:
    try:
        deps = CondaDependencies._from_yaml(yaml.safe_dump(doc), "env.yml")
    except AmlError as e:
        assert "env.yml" in str(e)
        return
    assert CondaDependencies._from_yaml(deps.serialize_to_string(), "again") == deps


def test_from_docker_image_with_requirements_builds_locally_then_runs_in_docker(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    engine = _engine()
    if engine is None:
        pytest.skip("no docker engine or base image (as root, `make docker` makes both)")
    req = write(tmp_path, "requirements.txt", "six==1.16.0\n")
    env = Environment.from_docker_image(
        "img-six", dockerenv.DEFAULT_BASE_IMAGE, pip_requirements=req
    )
    image = dockerenv.image_name(env._spec())
    try:
        log = env.build_local(exp.workspace, useDocker=True)
        assert f"Image {image} ready" in log
        write(project, "six_.py", "import six, sys; print(sys.executable, six.__version__)")
        run = exp.submit(ScriptRunConfig(project, "six_.py", environment=env))
        assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
        python, version = run.read_log().strip().splitlines()[-1].split()
        assert version == "1.16.0" and python != sys.executable  # the image's Python
    finally:
        remove_built_images(engine, image)

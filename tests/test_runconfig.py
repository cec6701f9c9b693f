"""RunConfiguration: ScriptRunConfig's one copy of its settings (real submits on `local`), and
v1's .runconfig YAML saved and loaded (round trips with hypothesis, a v1-written file)."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import write
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from v1_samples import V1_CONDA, V1_RUNCONFIG

from aml_jupyter import (
    AmlError,
    CondaDependencies,
    DockerConfiguration,
    Environment,
    Experiment,
    MpiConfiguration,
    PyTorchConfiguration,
    RunConfiguration,
    RunStatus,
    ScriptRunConfig,
    TensorflowConfiguration,
)
from aml_jupyter.compute.runconfig_file import to_document

SHOW = """
import json, os, sys
print(json.dumps({"argv": sys.argv[1:], "var": os.environ.get("MY_VAR"),
                  "other": os.environ.get("OTHER"), "python": sys.executable}))
"""


def shown(run) -> dict:
    return json.loads(run.read_log().strip().splitlines()[-1])


def definition(exp: Experiment, run) -> dict:
    return exp.workspace.store.get_run(run.id).definition


# ScriptRunConfig keeps everything in its run_config ----------------------------------------------
def test_script_run_config_settings_live_in_its_run_config(project: Path) -> None:
    env = Environment("train")
    src = ScriptRunConfig(project, "a.py", arguments=["--x", 1], environment=env)
    rc = src.run_config
    assert isinstance(rc, RunConfiguration)
    assert rc.script == "a.py" and rc.arguments == ["--x", 1] and rc.environment is env
    assert rc.target == "local" and src.compute_target == "local"
    # One copy: a change on either side is the other's.
    rc.target = "gpu-box"
    assert src.target == "gpu-box"
    src.arguments = ["--y"]
    assert rc.arguments == ["--y"]
    src.distributed_job_config = MpiConfiguration(process_count_per_node=2, node_count=3)
    assert (rc.communicator, rc.node_count, rc.mpi.process_count_per_node) == ("IntelMpi", 3, 2)
    rc.node_count = 4
    assert src.distributed_job_config.node_count == 4
    src.max_run_duration_seconds = 60
    assert rc.max_run_duration_seconds == 60
    src.docker_runtime_config = DockerConfiguration(use_docker=True)
    assert rc.docker.use_docker


def test_a_given_run_config_is_copied_and_the_arguments_given_win(project: Path) -> None:
    rc = RunConfiguration(script="a.py", arguments=["--from-rc"])
    rc.environment_variables["MY_VAR"] = "rc"
    src = ScriptRunConfig(project, run_config=rc, arguments=["--given"])
    assert src.script == "a.py" and src.arguments == ["--given"]
    rc.environment_variables["MY_VAR"] = "changed later"
    rc.script = "other.py"
    assert src.run_config.environment_variables == {"MY_VAR": "rc"}
    assert src.script == "a.py"
    with pytest.raises(AmlError, match="run_config takes a RunConfiguration"):
        ScriptRunConfig(project, "a.py", run_config={"script": "a.py"})


def test_run_config_environment_set_after_the_config_is_used_at_submit(
    exp: Experiment, project: Path
) -> None:
    write(project, "show.py", SHOW)
    env = Environment("mine")
    env.python.user_managed_dependencies = True  # the submitting Python, with its variables
    env.environment_variables["MY_VAR"] = "from-env"
    src = ScriptRunConfig(project, "show.py", arguments=["--lr", 0.5])
    src.run_config.environment = env
    src.run_config.environment_variables["OTHER"] = "run-level"
    run = exp.submit(src)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    out = shown(run)
    assert out == {**out, "argv": ["--lr", "0.5"], "var": "from-env", "other": "run-level"}
    recorded = definition(exp, run)["environment"]
    assert recorded["name"] == "mine"
    assert recorded["environment_variables"] == {"MY_VAR": "from-env", "OTHER": "run-level"}


def test_the_default_environment_runs_the_submitting_python_with_no_build(
    exp: Experiment, project: Path
) -> None:
    write(project, "show.py", SHOW)
    src = ScriptRunConfig(project, "show.py")
    # v1 code touches the default environment; left without packages it builds nothing.
    src.run_config.environment.environment_variables["MY_VAR"] = "on-default"
    run = exp.submit(src)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert shown(run)["var"] == "on-default"
    assert definition(exp, run)["environment"]["python"]["user_managed_dependencies"] is True
    assert "user_logs/environment_build.txt" not in run.get_file_names()
    plain = exp.submit(ScriptRunConfig(project, "show.py"))
    plain.wait_for_completion()
    assert definition(exp, plain)["environment"] is None  # as before: this Python as it is


def test_node_count_and_mpi_section_on_the_run_config_start_the_ranks(
    exp: Experiment, project: Path
) -> None:
    write(
        project, "rank.py", "import os; print('rank', os.environ['RANK'], os.environ['WORLD_SIZE'])"
    )
    src = ScriptRunConfig(project, "rank.py", distributed_job_config=MpiConfiguration())
    src.run_config.node_count = 2
    src.run_config.mpi.process_count_per_node = 2
    run = exp.submit(src)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert definition(exp, run)["distributed"] == {
        "framework": "Python",
        "backend": "IntelMpi",
        "nodeCount": 2,
        "processCountPerNode": 2,
    }
    assert "rank 0 4" in run.read_log()
    assert "rank 3 4" in (run.folder / "user_logs" / "std_log_process_3.txt").read_text()


def test_max_run_duration_on_the_run_config_is_enforced(exp: Experiment, project: Path) -> None:
    write(project, "long.py", "import time; time.sleep(60)")
    src = ScriptRunConfig(project, "long.py")
    src.run_config.max_run_duration_seconds = 1
    details = exp.submit(src).wait_for_completion(raise_on_error=False, timeout_seconds=30)
    assert details["error"]["error"]["code"] == "MaxRunDurationExceeded"


def test_use_docker_on_the_run_config_makes_a_docker_environment(
    exp: Experiment, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(project, "show.py", SHOW)
    src = ScriptRunConfig(project, "show.py", docker_runtime_config=DockerConfiguration(True))
    env = src.run_config._submission_environment(exp.workspace)
    assert env is not None and env.docker.enabled and env.python.user_managed_dependencies
    # With no engine (an address nothing answers), the submit is refused and no run is made.
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(AmlError, match="No docker engine answers"):
        exp.submit(src)
    assert list(exp.get_runs()) == []


def test_tensorflow_parameter_servers_are_refused_with_what_to_use(
    exp: Experiment, project: Path
) -> None:
    write(project, "a.py", "print(1)")
    src = ScriptRunConfig(
        project, "a.py", distributed_job_config=TensorflowConfiguration(worker_count=2)
    )
    with pytest.raises(AmlError, match=r"parameter-server training.*MpiConfiguration"):
        exp.submit(src)
    one = ScriptRunConfig(project, "a.py", distributed_job_config=TensorflowConfiguration(1, 0))
    run = exp.submit(one)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    assert definition(exp, run)["distributed"] is None


# save and load -------------------------------------------------------------------------------------
def test_save_makes_the_azureml_folder_and_load_finds_every_form(tmp_path: Path) -> None:
    project = tmp_path / "proj"
    project.mkdir()
    rc = RunConfiguration(script="train.py", arguments=["--a", "1"])
    rc.environment = Environment("e")
    rc.environment.python.conda_dependencies.add_pip_package("six==1.16.0")
    file = rc.save(project, "train")
    assert file == project / ".azureml" / "train.runconfig"
    doc = yaml.safe_load(file.read_text())
    assert doc["environment"]["python"]["condaDependenciesFile"] == (
        ".azureml/train_conda_dependencies.yml"
    )
    conda = yaml.safe_load((project / ".azureml" / "train_conda_dependencies.yml").read_text())
    assert {"pip": ["six==1.16.0"]} in conda["dependencies"]
    for path, name in [
        (file, None),
        (project, "train"),
        (project, "train.runconfig"),
    ]:
        loaded = RunConfiguration.load(path, name)
        assert loaded.script == "train.py"
        assert loaded.environment.python.conda_dependencies.pip_packages == ["six==1.16.0"]
    (project / "other.runconfig").write_text(file.read_text())
    assert RunConfiguration.load(project, "other").arguments == ["--a", "1"]
    with pytest.raises(AmlError, match=r"No run configuration 'nope'.*looked for"):
        RunConfiguration.load(project, "nope")


def test_save_uses_a_legacy_aml_config_folder_and_a_file_path(tmp_path: Path) -> None:
    (tmp_path / "aml_config").mkdir()
    file = RunConfiguration(script="a.py").save(tmp_path, "old")
    assert file == tmp_path / "aml_config" / "old.runconfig"
    assert RunConfiguration.load(tmp_path, "old").script == "a.py"
    direct = RunConfiguration(script="b.py").save(tmp_path / "my.runconfig")
    assert direct == tmp_path / "my.runconfig" and RunConfiguration.load(direct).script == "b.py"
    with pytest.raises(AmlError, match="needs a name"):
        RunConfiguration().save(tmp_path)


def test_separate_environment_yaml_is_named_by_the_runconfig(tmp_path: Path) -> None:
    rc = RunConfiguration(script="a.py")
    rc.environment = Environment("sep")
    rc.environment.environment_variables["K"] = "v"
    rc.save(tmp_path, "sep", separate_environment_yaml=True)
    doc = yaml.safe_load((tmp_path / ".azureml" / "sep.runconfig").read_text())
    assert doc["environment"] == ".azureml/sep_environment.yml"
    back = RunConfiguration.load(tmp_path, "sep")
    assert back.environment.name == "sep" and back.environment.environment_variables == {"K": "v"}


def test_a_v1_written_runconfig_loads_and_runs_unchanged(exp: Experiment, project: Path) -> None:
    write(project, ".azureml/sklearn.runconfig", V1_RUNCONFIG)
    write(project, ".azureml/conda_dependencies.yml", V1_CONDA)
    write(project, "train.py", "import sys, os; print(sys.argv[1:], os.environ['EXAMPLE_ENV_VAR'])")
    rc = RunConfiguration.load(project, "sklearn")
    assert (rc.script, rc.target, rc.node_count) == ("train.py", "local", 1)
    assert rc.arguments == ["--data-folder", "./data", "--reg", "0.5"]
    deps = rc.environment.python.conda_dependencies
    assert deps.pip_packages == ["azureml-defaults"] and deps.get_python_version() == "3.8.13"
    assert deps.conda_channels == ["anaconda", "conda-forge"]
    assert rc._kept["spark"]["configuration"]["spark.app.name"] == "Azure ML Experiment"
    # azureml-defaults is ours inside a run: no Python 3.8 build, the submitting Python runs it.
    run = exp.submit(ScriptRunConfig(project, run_config=rc))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "['--data-folder', './data', '--reg', '0.5'] EXAMPLE_VALUE" in run.read_log()
    # Saved back, the sections this version does not use come back as v1 wrote them.
    again = RunConfiguration.load(rc.save(project / "copy.runconfig"))
    assert to_document(again) == to_document(rc)
    assert again._kept["spark"] == rc._kept["spark"]
    assert again.environment.docker._kept["platform"] == {"os": "Linux", "architecture": "amd64"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("nodeCount: two", "'nodeCount'"),
        ("arguments: --lr 0.1", "'arguments'"),
        ("maxRunDurationSeconds: -5", "'maxRunDurationSeconds'"),
        ("history: {outputCollection: 'yes'}", "'history.outputCollection'"),
        ("mpi: {processCountPerNode: 0}", "'mpi.processCountPerNode'"),
        ("environmentVariables: [A, B]", "'environmentVariables'"),
        (
            "environment: {python: {userManagedDependencies: 3}}",
            "'environment.python.userManagedDependencies'",
        ),
        (
            "environment: {python: {condaDependenciesFile: missing.yml}}",
            "'environment.python.condaDependenciesFile'",
        ),
        ("pytorch: {processCount: 3, nodeCount: 2}", "'pytorch.processCount'"),
        ("docker: [1, 2]", "docker must be a mapping"),
    ],
)
def test_a_bad_field_names_the_file_and_the_field(tmp_path: Path, change: str, field: str) -> None:
    file = write(tmp_path, "bad.runconfig", f"script: train.py\n{change}\n")
    with pytest.raises(AmlError) as caught:
        RunConfiguration.load(file)
    assert str(file) in str(caught.value) and field in str(caught.value)


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    file = write(tmp_path, "bad.runconfig", "script: [unclosed\n")
    with pytest.raises(AmlError, match=r"bad\.runconfig is not valid YAML"):
        RunConfiguration.load(file)
    file.write_text("- just\n- a list\n")
    with pytest.raises(AmlError, match="must be a mapping"):
        RunConfiguration.load(file)


# properties --------------------------------------------------------------------------------------
_names = st.text(st.characters(min_codepoint=97, max_codepoint=122), min_size=1, max_size=12)
_words = st.text(
    st.characters(blacklist_categories=["Cs", "Cc"], blacklist_characters="\x85"), max_size=20
)


@st.composite
def run_configs(draw: st.DrawFn) -> RunConfiguration:
    rc = RunConfiguration(script=draw(_names) + ".py", arguments=draw(st.lists(_words, max_size=4)))
    rc.target = draw(st.sampled_from(["local", "gpu-box", "ray"]))
    kind = draw(st.sampled_from(["none", "mpi", "torch", "tf"]))
    nodes = draw(st.integers(1, 4))
    if kind == "mpi":
        rc.distributed_job_config = MpiConfiguration(draw(st.integers(1, 3)), nodes)
    elif kind == "torch":
        rc.distributed_job_config = PyTorchConfiguration(
            draw(st.sampled_from(["Nccl", "Gloo"])), nodes * draw(st.integers(1, 3)), nodes
        )
    elif kind == "tf":
        rc.distributed_job_config = TensorflowConfiguration(
            draw(st.integers(1, 3)), draw(st.integers(0, 2))
        )
    rc.max_run_duration_seconds = draw(st.none() | st.integers(1, 10**7))
    rc.environment_variables = draw(st.dictionaries(_names.map(str.upper), _words, max_size=3))
    rc.history.output_collection = draw(st.booleans())
    rc.history.directories_to_watch = draw(st.lists(_names, max_size=2))
    rc.docker = DockerConfiguration(
        draw(st.booleans()), shm_size=draw(st.sampled_from(["1g", "2g"]))
    )
    if draw(st.booleans()):
        env = Environment(draw(_names))
        env.python.conda_dependencies = CondaDependencies.create(
            pip_packages=draw(st.lists(_names, max_size=3, unique=True)),
            conda_packages=draw(
                st.lists(_names.map(lambda n: n + "=1.2"), max_size=2, unique=True)
            ),
            python_version=draw(st.sampled_from([None, "3.11", "3.12"])),
        )
        for channel in draw(st.lists(_names, max_size=2, unique=True)):
            env.python.conda_dependencies.add_channel(channel)
        env.python.user_managed_dependencies = draw(st.booleans())
        env.docker.enabled = draw(st.booleans())
        env.docker.base_image = draw(st.none() | _names.map(lambda n: f"{n}:1"))
        env.environment_variables = draw(st.dictionaries(_names, _words, max_size=2))
        rc.environment = env
    return rc


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(rc=run_configs(), separate=st.booleans())
def test_save_then_load_gives_the_same_configuration(
    tmp_path: Path, rc: RunConfiguration, separate: bool
) -> None:
    rc.save(tmp_path, "prop", separate_environment_yaml=separate)
    back = RunConfiguration.load(tmp_path, "prop")
    assert to_document(back) == to_document(rc)
    assert back.environment.python.conda_dependencies == rc.environment.python.conda_dependencies
    assert back._job_config().__class__ is rc._job_config().__class__


_values = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 5) | _words,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_words, inner, max_size=3),
    max_leaves=8,
)
_keys = st.sampled_from(
    [*yaml.safe_load(V1_RUNCONFIG), "python", "userManagedDependencies", "nodeCount"]
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(doc=st.dictionaries(_keys, _values, max_size=6))
def test_any_yaml_document_loads_or_is_refused_with_an_aml_error(tmp_path: Path, doc: dict) -> None:
    file = tmp_path / "fuzz.runconfig"
    file.write_text(yaml.safe_dump(doc))
    try:
        rc = RunConfiguration.load(file)
    except AmlError as e:
        assert str(file) in str(e)
        return
    # What loads saves and loads again the same.
    assert to_document(RunConfiguration.load(rc.save(tmp_path / "again.runconfig"))) == to_document(
        rc
    )


def test_repr_reads_well() -> None:
    rc = RunConfiguration(script="x.py")
    assert "script='x.py'" in repr(rc) and "target='local'" in repr(rc)
    assert textwrap.shorten(repr(DockerConfiguration(True)), 60).startswith("DockerConfiguration")


def test_docker_shm_size_reaches_the_container(exp: Experiment, project: Path) -> None:
    from aml_jupyter.compute.local import container

    src = ScriptRunConfig(
        project, "a.py", docker_runtime_config=DockerConfiguration(True, shm_size="4g")
    )
    env = src.run_config._submission_environment(exp.workspace)
    assert env is not None
    argv = container.command(exp.workspace.folder, project, "r1", 0, env._spec(), {}, ["x"])
    assert container._parse(argv[3:]).shm_size == "4g"
    plain = ScriptRunConfig(project, "a.py", docker_runtime_config=DockerConfiguration(True))
    env = plain.run_config._submission_environment(exp.workspace)
    argv = container.command(exp.workspace.folder, project, "r2", 0, env._spec(), {}, ["x"])
    assert container._parse(argv[3:]).shm_size == "2g"


def test_use_docker_runs_the_script_in_the_base_image_with_its_shm_size(
    exp: Experiment, project: Path
) -> None:
    from aml_jupyter.environments import docker_image as dockerenv

    try:
        engine = dockerenv.client(timeout=10)
    except AmlError:
        pytest.skip("no docker engine answers (as root, `make docker` starts one)")
    if dockerenv._find(engine, dockerenv.DEFAULT_BASE_IMAGE) is None:
        pytest.skip(f"no base image {dockerenv.DEFAULT_BASE_IMAGE}: `make docker` builds it")
    write(
        project,
        "shm.py",
        "import os, sys; s = os.statvfs('/dev/shm'); print(sys.executable, s.f_blocks * s.f_frsize)",
    )
    src = ScriptRunConfig(project, "shm.py")
    src.run_config.docker = DockerConfiguration(use_docker=True, shm_size="256m")
    run = exp.submit(src)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    python, size = run.read_log().strip().splitlines()[-1].split()
    assert python == "/usr/bin/python" and int(size) == 256 * 1024 * 1024


def test_a_registered_environment_by_name_saves_as_its_name(exp: Experiment, project: Path) -> None:
    env = Environment("named")
    env.python.user_managed_dependencies = True
    env.environment_variables["MY_VAR"] = "registered"
    env.register(exp.workspace)
    rc = RunConfiguration(script="show.py")
    rc.environment = "named:1"
    rc.save(project, "named")
    back = RunConfiguration.load(project, "named")
    assert back.environment == "named:1"
    assert not (project / ".azureml" / "named_conda_dependencies.yml").exists()
    write(project, "show.py", SHOW)
    run = exp.submit(ScriptRunConfig(project, run_config=back))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert shown(run)["var"] == "registered"


def test_amlcompute_settings_are_kept_in_the_file(tmp_path: Path) -> None:
    rc = RunConfiguration(script="a.py")
    rc.amlcompute.vm_size = "STANDARD_D2_V2"
    rc.amlcompute.cluster_max_node_count = 4
    back = RunConfiguration.load(rc.save(tmp_path, "aml"))
    assert back.amlcompute.vm_size == "STANDARD_D2_V2"
    assert back.amlcompute.cluster_max_node_count == 4 and back.amlcompute.name is None
    with pytest.raises(AttributeError):
        rc.amlcompute.vmsize = "x"

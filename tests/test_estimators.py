"""v1's estimators submit as ScriptRunConfig + Environment (real runs on `local`)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from conftest import write

from aml_jupyter import (
    AmlError,
    Environment,
    Estimator,
    Experiment,
    MpiConfiguration,
    PyTorch,
    PyTorchConfiguration,
    RunStatus,
    SKLearn,
    TensorFlow,
)
from aml_jupyter.compute import estimator as estimator_module
from aml_jupyter.compute.estimator import (
    DEPRECATION,
    EstimatorDeprecationWarning,
    Gloo,
    Mpi,
    script_arguments,
)
from aml_jupyter.environments.installed import installed_version

pytestmark = pytest.mark.filterwarnings(
    "ignore::aml_jupyter.compute.estimator.EstimatorDeprecationWarning"
)


@pytest.fixture(autouse=True)
def warn_again() -> None:
    """Each test sees the once-per-process deprecation warning afresh."""
    estimator_module._warned.clear()


def definition(exp: Experiment, run) -> dict:
    return exp.workspace.store.get_run(run.id).definition


def test_script_params_flatten_as_v1() -> None:
    assert script_arguments({"--lr": 0.1, "--flag": "", "--none": None, "--xs": [1, 2]}) == [
        "--lr",
        0.1,
        "--flag",
        "--none",
        "--xs",
        1,
        2,
    ]
    assert script_arguments(None) == [] and script_arguments(["--a", 1]) == ["--a", 1]
    with pytest.raises(AmlError, match="script_params takes a dict"):
        script_arguments("--lr 0.1")


def test_an_estimator_warns_once_and_submits_as_a_script_run(
    exp: Experiment, project: Path
) -> None:
    write(project, "train.py", "import sys; print('args', sys.argv[1:])")
    with pytest.warns(EstimatorDeprecationWarning) as caught:
        est = Estimator(
            project, entry_script="train.py", script_params={"--lr": 0.1, "--verbose": ""}
        )
    assert str(caught[0].message) == DEPRECATION.format(name="Estimator")
    assert "Please use 'ScriptRunConfig'" in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        Estimator(project, entry_script="train.py")  # once per process
    run = exp.submit(est)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "args ['--lr', '0.1', '--verbose']" in run.read_log()
    recorded = definition(exp, run)
    assert recorded["script"] == "train.py" and recorded["target"] == "local"


def test_a_change_to_the_estimators_run_config_is_what_is_submitted(
    exp: Experiment, project: Path
) -> None:
    write(project, "train.py", "import os, sys; print('got', sys.argv[1:], os.environ['MODE'])")
    est = Estimator(project, entry_script="train.py", environment_variables={"MODE": "a"})
    est.run_config.arguments = ["--epochs", 3]
    est.run_config.environment.environment_variables["MODE"] = "b"
    run = exp.submit(est)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "got ['--epochs', '3'] b" in run.read_log()


def test_sklearn_runs_with_the_installed_scikit_learn_and_builds_nothing(
    exp: Experiment, project: Path
) -> None:
    write(project, "fit.py", "import sklearn; print('sklearn', sklearn.__version__)")
    est = SKLearn(project, entry_script="fit.py")
    env = est.run_config.environment
    here = installed_version("scikit-learn")
    assert env.python.conda_dependencies.pip_packages == [f"scikit-learn=={here}"]
    assert env.python.user_managed_dependencies  # this Python has it: no build
    run = exp.submit(est)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert f"sklearn {here}" in run.read_log()
    assert "user_logs/environment_build.txt" not in run.get_file_names()
    assert SKLearn.get_supported_versions() == [here.split("+")[0]]
    with pytest.raises(AmlError, match="SKLearn does not take distributed_backend"):
        SKLearn(project, entry_script="fit.py", distributed_backend="mpi")


def test_pytorch_with_gloo_starts_one_process_per_rank(exp: Experiment, project: Path) -> None:
    write(
        project,
        "ranks.py",
        "import os, torch\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'],"
        " torch.__version__)\n",
    )
    est = PyTorch(
        project, entry_script="ranks.py", process_count_per_node=2, distributed_backend="gloo"
    )
    assert isinstance(est.run_config.distributed_job_config, PyTorchConfiguration)
    run = exp.submit(est)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert definition(exp, run)["distributed"] == {
        "framework": "PyTorch",
        "backend": "Gloo",
        "nodeCount": 1,
        "processCountPerNode": 2,
    }
    assert f"rank 0 of 2 {installed_version('torch')}" in run.read_log()
    rank1 = (run.folder / "user_logs" / "std_log_process_1.txt").read_text()
    assert "rank 1 of 2" in rank1


def test_distribution_shorthands_map_to_configs(project: Path) -> None:
    mpi = Estimator(project, entry_script="a.py", node_count=2, distributed_training=Mpi(3))
    job = mpi.run_config.distributed_job_config
    assert isinstance(job, MpiConfiguration) and (job.node_count, job.process_count_per_node) == (
        2,
        3,
    )
    torch = PyTorch(project, entry_script="a.py", node_count=2, distributed_training=Gloo())
    assert torch.run_config.distributed_job_config.process_count == 2
    assert torch.run_config.communicator == "Gloo"
    with pytest.raises(AmlError, match="distributed_backend='mpi'"):
        Estimator(project, entry_script="a.py", node_count=2)
    with pytest.raises(AmlError, match="not one of 'mpi'"):
        Estimator(project, entry_script="a.py", distributed_backend="horovod")


def test_tensorflow_adds_its_package_and_takes_an_environment_as_it_is(
    exp: Experiment, project: Path
) -> None:
    write(project, "tf.py", "print('no tensorflow needed here')")
    est = TensorFlow(project, entry_script="tf.py", pip_packages=["six"])
    deps = est.run_config.environment.python.conda_dependencies
    if installed_version("tensorflow") is None:
        # Not installed here: a managed environment would build it (not done in tests).
        assert deps.pip_packages == ["tensorflow", "six"]
        assert not est.run_config.environment.python.user_managed_dependencies
    mine = Environment("mine")
    mine.python.user_managed_dependencies = True
    est = TensorFlow(project, entry_script="tf.py", environment_definition=mine)
    assert est.run_config.environment is mine
    run = exp.submit(est)
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    ps = TensorFlow(
        project,
        entry_script="tf.py",
        distributed_backend="ps",
        worker_count=2,
        environment_definition=mine,
    )
    with pytest.raises(AmlError, match="parameter-server"):
        exp.submit(ps)
    with pytest.raises(AmlError, match="environment_definition"):
        TensorFlow(project, entry_script="tf.py", environment_definition=mine, pip_packages=["x"])


def test_packages_this_python_lacks_make_a_managed_environment(project: Path) -> None:
    est = Estimator(
        project,
        entry_script="a.py",
        pip_packages=["six==1.16.0", "not-installed-pkg-xyz"],
        conda_packages=["numpy"],
    )
    env = est.run_config.environment
    assert env.name == "Estimator-estimator"
    assert env.python.conda_dependencies.pip_packages == ["six==1.16.0", "not-installed-pkg-xyz"]
    assert env.python.conda_dependencies.conda_packages == ["numpy"]
    assert not env.python.user_managed_dependencies
    write(project, "reqs/requirements.txt", "six==1.16.0\n")
    from_file = Estimator(
        project, entry_script="a.py", pip_requirements_file="reqs/requirements.txt"
    )
    kept = from_file.run_config.environment.python.conda_dependencies._requirements
    assert kept is not None and kept["files"]["requirements.txt"] == "six==1.16.0\n"


def test_a_custom_image_runs_in_docker(project: Path) -> None:
    est = Estimator(project, entry_script="a.py", custom_docker_image="aml-jupyter/python:3.11")
    assert est.run_config.docker.use_docker
    env = est.run_config.environment
    assert env.docker.enabled and env.docker.base_image == "aml-jupyter/python:3.11"
    plain = Estimator(project, entry_script="a.py")
    assert not plain.run_config.docker.use_docker  # v1's use_docker=True only with an image
    with pytest.raises(AmlError, match=r"inputs=\.\.\.\) takes datasets"):
        Estimator(project, entry_script="a.py", inputs=["data"])


def test_v1_module_paths_give_these_objects_inside_a_run(exp: Experiment, project: Path) -> None:
    write(
        project,
        "paths.py",
        """
        from azureml.train.estimator import Estimator, Mpi
        from azureml.train.sklearn import SKLearn
        from azureml.train.dnn import PyTorch, TensorFlow, Gloo, Nccl, ParameterServer
        from azureml.core.runconfig import (RunConfiguration, DockerConfiguration,
            TensorflowConfiguration, MpiConfiguration, PyTorchConfiguration, DEFAULT_CPU_IMAGE)
        from azureml.core.environment import Environment, CondaDependencies
        from azureml.core.script_run_config import ScriptRunConfig
        from azureml.core import RunConfiguration as FromCore
        import aml_jupyter
        assert Estimator is aml_jupyter.Estimator and SKLearn is aml_jupyter.SKLearn
        assert PyTorch is aml_jupyter.PyTorch and TensorFlow is aml_jupyter.TensorFlow
        assert RunConfiguration is FromCore is aml_jupyter.RunConfiguration
        assert Environment is aml_jupyter.Environment
        print("v1 paths ok", DEFAULT_CPU_IMAGE)
        """,
    )
    from aml_jupyter import ScriptRunConfig

    run = exp.submit(ScriptRunConfig(project, "paths.py"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED, run.read_log()
    assert "v1 paths ok aml-jupyter/python:3.11" in run.read_log()


def test_an_estimator_submits_as_a_child_run_too(exp: Experiment, project: Path) -> None:
    write(project, "child.py", "print('child ran')")
    parent = exp.start_logging()
    child = parent.submit_child(Estimator(project, entry_script="child.py"))
    assert child.wait_for_completion()["status"] == RunStatus.COMPLETED, child.read_log()
    assert child.parent.id == parent.id and "child ran" in child.read_log()
    parent.complete()

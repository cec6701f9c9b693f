"""v1's ``Estimator``: a deprecated way to say script + packages + target, still in v1's
training docs. Each one is a ``ScriptRunConfig`` + ``Environment`` underneath
(:meth:`Estimator._script_run_config`), submitted as that (``Experiment.submit(est)``).

The environment it makes: ``environment_definition`` as given, else one named
``<Class>-estimator`` with the packages asked for. When the submitting Python already has every
one of them (at an allowed version), the run uses that Python as it is (nothing to build,
no framework downloaded again); otherwise a managed environment is built with uv.
``use_docker`` defaults to v1's True only with a custom image (a local run needs no container).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..environments.environment import Environment
from ..environments.installed import satisfied_here
from ..errors import AmlError
from ..tracking.submitting import experiment_method
from .distributed import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration
from .runconfig import DockerConfiguration, RunConfiguration

if TYPE_CHECKING:
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace
    from .config import ScriptRunConfig

#: v1's words (the constructor's log line), once per estimator class and process.
DEPRECATION = (
    "'{name}' estimator is deprecated. Please use 'ScriptRunConfig' from "
    "'azureml.core.script_run_config' with your own defined environment or an Azure ML "
    "curated environment."
)
_warned: set[str] = set()


class EstimatorDeprecationWarning(UserWarning):
    """Shown when an estimator is made (a UserWarning: Python shows it by default)."""


def _warn_once(name: str) -> None:
    if name in _warned:
        return
    _warned.add(name)
    # Point at the user's line, above every constructor of ours (SKLearn calls Estimator's).
    import sys

    level, frame = 2, sys._getframe(1)  # level 2: the frame that called us
    here = str(Path(__file__).parent)
    while frame is not None and frame.f_code.co_filename.startswith(here):
        level, frame = level + 1, frame.f_back  # type: ignore[assignment]
    warnings.warn(DEPRECATION.format(name=name), EstimatorDeprecationWarning, stacklevel=level)


# v1's azureml.train.dnn distribution shorthands ---------------------------------------------
class Mpi:
    """``distributed_training=Mpi(process_count_per_node=2)`` (node count: the estimator's)."""

    def __init__(self, process_count_per_node: int = 1) -> None:
        self.process_count_per_node = process_count_per_node


class Gloo:
    """``distributed_training=Gloo()``: torch.distributed over gloo, one process per node."""

    backend = "Gloo"


class Nccl:
    """``distributed_training=Nccl()``: torch.distributed over NCCL, one process per node."""

    backend = "Nccl"


class ParameterServer:
    """``distributed_training=ParameterServer(worker_count, parameter_server_count)``."""

    def __init__(self, worker_count: int = 1, parameter_server_count: int = 1) -> None:
        self.worker_count = worker_count
        self.parameter_server_count = parameter_server_count


def script_arguments(script_params: Any) -> list[Any]:
    """v1's flattening of ``script_params``: ``{'--lr': 0.1, '--flag': '', '--xs': [1, 2]}``
    is ``['--lr', 0.1, '--flag', '--xs', 1, 2]`` (a None or empty value keeps only its key)."""
    if script_params is None:
        return []
    if isinstance(script_params, (list, tuple)):
        return list(script_params)
    if not isinstance(script_params, dict):
        raise AmlError(
            f"script_params takes a dict of arguments ({{'--lr': 0.1}}), got "
            f"{type(script_params).__name__}."
        )
    out: list[Any] = []
    for key, value in script_params.items():
        if type(value).__name__ in ("TabularDataset", "FileDataset"):
            raise AmlError(
                f"script_params[{key!r}] is a dataset: pass dataset.as_named_input(name)"
                ".as_mount() or .as_download() instead."
            )
        out.append(key)
        if isinstance(value, (list, tuple)):
            out.extend(value)
        elif value is not None and value != "":
            out.append(value)
    return out


class Estimator:
    """v1's ``Estimator`` (deprecated there too): everything after ``source_directory`` is
    keyword-only, as in v1. ``Experiment(ws, name).submit(est)`` runs it as a
    :class:`ScriptRunConfig`; ``est.run_config`` is that config's :class:`RunConfiguration`."""

    #: The framework's pip package and v1's default version (framework estimators).
    _framework_package: str | None = None
    DEFAULT_VERSION: str | None = None

    def __init__(
        self,
        source_directory: str | os.PathLike[str],
        *,
        compute_target: Any = None,
        vm_size: str | None = None,
        vm_priority: str | None = None,
        entry_script: str | None = None,
        script_params: Any = None,
        node_count: int = 1,
        process_count_per_node: int = 1,
        distributed_backend: str | None = None,
        distributed_training: Any = None,
        use_gpu: bool = False,
        use_docker: bool | None = None,
        custom_docker_base_image: str | None = None,
        custom_docker_image: str | None = None,
        image_registry_details: Any = None,
        user_managed: bool = False,
        conda_packages: list[str] | None = None,
        pip_packages: list[str] | None = None,
        conda_dependencies_file_path: str | None = None,
        pip_requirements_file_path: str | None = None,
        conda_dependencies_file: str | None = None,
        pip_requirements_file: str | None = None,
        environment_variables: dict[str, str] | None = None,
        environment_definition: Environment | None = None,
        inputs: list[Any] | None = None,
        source_directory_data_store: Any = None,
        shm_size: str | None = None,
        resume_from: Any = None,
        max_run_duration_seconds: int | None = None,
        framework_version: str | None = None,
        _framework_options: dict[str, Any] | None = None,
    ) -> None:
        _warn_once(type(self).__name__)
        if inputs is not None and not isinstance(inputs, (list, tuple)):
            raise AmlError(
                "Estimator(inputs=...) takes a list of datasets, e.g. "
                f"[ds.as_named_input('train').as_mount()]; got {type(inputs).__name__}."
            )
        for item in inputs or []:
            if not (hasattr(item, "_aml_run_input") or hasattr(item, "_aml_run_output")):
                raise AmlError(
                    "Estimator(inputs=...) takes datasets (ds.as_named_input('train')"
                    f".as_mount()), got {item!r}; pass a path in script_params instead."
                )
        #: Datasets the script finds by name (run.input_datasets), not in its arguments.
        self.inputs = list(inputs or [])
        self.source_directory = os.fspath(source_directory)
        self.use_gpu = use_gpu  # a local run sees the machine's GPUs as they are
        self.vm_size, self.vm_priority = vm_size, vm_priority  # cloud VM choices: recorded
        self.framework_version = framework_version
        image = custom_docker_image or custom_docker_base_image
        packages = [
            conda_packages,
            pip_packages,
            conda_dependencies_file_path,
            pip_requirements_file_path,
            conda_dependencies_file,
            pip_requirements_file,
            image,
        ]
        if environment_definition is not None:
            if any(p for p in packages) or user_managed or environment_variables:
                raise AmlError(
                    "Estimator(environment_definition=...) takes the environment as it is: "
                    "leave conda_packages, pip_packages, the dependency files, "
                    "custom_docker_image, user_managed and environment_variables unset (put "
                    "them on the Environment)."
                )
            environment = environment_definition
        else:
            environment = self._environment(
                user_managed,
                list(conda_packages or []),
                list(pip_packages or []),
                conda_dependencies_file or conda_dependencies_file_path,
                pip_requirements_file or pip_requirements_file_path,
                image,
                dict(environment_variables or {}),
            )
        config = RunConfiguration(script=entry_script, arguments=script_arguments(script_params))
        config.target = compute_target if compute_target is not None else "local"
        config.environment = environment
        config.max_run_duration_seconds = max_run_duration_seconds
        docker = use_docker if use_docker is not None else bool(image)
        config.docker = DockerConfiguration(use_docker=docker, shm_size=shm_size or "2g")
        distributed = self._distribution(
            node_count,
            process_count_per_node,
            distributed_backend,
            distributed_training,
            _framework_options or {},
        )
        if distributed is not None:
            config.distributed_job_config = distributed
        self.resume_from = resume_from
        #: What this estimator submits (v1's ``run_config``): change it, the submit follows.
        self.run_config = config

    # the environment -----------------------------------------------------------------------
    def _framework_requirement(self) -> list[str]:
        """The framework's package: ``framework_version`` if given (``1.4``: ``==1.4.*``),
        else the version the submitting Python has, else the newest (see the module doc)."""
        package = self._framework_package
        if package is None:
            return []
        version = self.framework_version
        if version is None:
            from ..environments.installed import installed_version

            here = installed_version(package)
            return [f"{package}=={here}" if here else package]
        return [f"{package}=={version}" + (".*" if version.count(".") < 2 else "")]

    def _environment(
        self,
        user_managed: bool,
        conda_packages: list[str],
        pip_packages: list[str],
        conda_file: str | None,
        pip_file: str | None,
        image: str | None,
        variables: dict[str, str],
    ) -> Environment:
        name = f"{type(self).__name__}-estimator"
        source = Path(self.source_directory)
        resolve = lambda f: str(f if Path(f).is_absolute() else source / f)  # noqa: E731
        if conda_file:
            env = Environment.from_conda_specification(name, resolve(conda_file))
        else:
            env = Environment(name)
        deps = env.python.conda_dependencies
        if pip_file:
            from ..environments import requirements

            deps._requirements = requirements.read(resolve(pip_file))
        for package in [*self._framework_requirement(), *pip_packages]:
            deps.add_pip_package(package)
        for package in conda_packages:
            deps.add_conda_package(package)
        if image:
            env.docker.enabled = True
            env.docker.base_image = image
        env.environment_variables = {str(k): str(v) for k, v in variables.items()}
        asked = [*deps.pip_packages, *deps.conda_packages]
        local = not image and not conda_file and not pip_file
        if user_managed or (local and satisfied_here(asked)):
            # The submitting Python has it all (or is what the user manages): no build.
            env.python.user_managed_dependencies = True
        return env

    # distribution ---------------------------------------------------------------------------
    def _distribution(
        self,
        node_count: int,
        per_node: int,
        backend: str | None,
        training: Any,
        options: dict[str, Any],
    ) -> Any:
        if isinstance(training, (MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration)):
            return training
        if isinstance(training, Mpi):
            return MpiConfiguration(training.process_count_per_node, node_count)
        if isinstance(training, (Gloo, Nccl)):
            return PyTorchConfiguration(training.backend, node_count * per_node, node_count)
        if isinstance(training, ParameterServer):
            return TensorflowConfiguration(training.worker_count, training.parameter_server_count)
        if training is not None:
            raise AmlError(
                "distributed_training takes Mpi(), Gloo(), Nccl(), ParameterServer() or a "
                f"Mpi/PyTorch/TensorflowConfiguration, got {type(training).__name__}."
            )
        name = (backend or "").lower()
        if name == "mpi":
            return MpiConfiguration(per_node, node_count)
        if name in ("gloo", "nccl"):
            return PyTorchConfiguration(name.capitalize(), node_count * per_node, node_count)
        if name in ("ps", "parameter_server", "parameterserver"):
            return TensorflowConfiguration(
                options.get("worker_count", 1), options.get("parameter_server_count", 1)
            )
        if backend is not None:
            raise AmlError(
                f"distributed_backend={backend!r} is not one of 'mpi', 'gloo', 'nccl', 'ps'."
            )
        if node_count != 1 or per_node != 1:
            raise AmlError(
                f"node_count={node_count}, process_count_per_node={per_node} needs a way to "
                "start the processes: distributed_backend='mpi' (or distributed_training="
                "MpiConfiguration(...) / PyTorchConfiguration(...))."
            )
        return None

    # what it submits --------------------------------------------------------------------------
    @property
    def conda_dependencies(self) -> Any:
        """The environment's dependencies (v1's ``est.conda_dependencies``)."""
        return self.run_config.environment.python.conda_dependencies

    def _script_run_config(self) -> ScriptRunConfig:
        """The equivalent ScriptRunConfig: this folder, ``run_config`` as it is now."""
        from .config import ScriptRunConfig

        config = ScriptRunConfig(
            self.source_directory, run_config=self.run_config, resume_from=self.resume_from
        )
        config._inputs = list(self.inputs)
        return config

    @classmethod
    def get_supported_versions(cls) -> list[str]:
        """The framework versions known to work: the one the submitting Python has (an
        environment with another is built with uv, if PyPI has it for this Python)."""
        from ..environments.installed import installed_version

        here = installed_version(cls._framework_package) if cls._framework_package else None
        return [here.split("+")[0]] if here else []

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(source_directory={self.source_directory!r}, "
            f"entry_script={self.run_config.script!r}, target={self.run_config.target!r})"
        )


def submit(
    estimator: Estimator,
    workspace: Workspace,
    experiment_name: str,
    *,
    tags: dict[str, Any] | None = None,
    _parent_run_id: str | None = None,
    **kwargs: Any,
) -> Run:
    """How ``Experiment.submit`` runs an estimator: as its ScriptRunConfig."""
    from .config import submit as submit_script

    return submit_script(
        estimator._script_run_config(),
        workspace,
        experiment_name,
        tags=tags,
        _parent_run_id=_parent_run_id,
        **kwargs,
    )


experiment_method(submit_function=submit)(Estimator)

__all__ = [
    "DEPRECATION",
    "Estimator",
    "EstimatorDeprecationWarning",
    "Gloo",
    "Mpi",
    "Nccl",
    "ParameterServer",
    "script_arguments",
]

"""``RunConfiguration``: v1's whole description of a run, the one place a ``ScriptRunConfig``
keeps what it submits.

``ScriptRunConfig(..., environment=env, compute_target='local')`` writes into its
``run_config``; ``src.run_config.environment = env`` or ``src.run_config.node_count = 2`` is the
same setting, read back at submit (:meth:`RunConfiguration._submission`). Sections v1 has that
do not apply to a local-first run (spark, hdi, data references, amlcompute, ...) are kept as
they were read, so a saved file loads and saves again unchanged. Saving and loading in v1's
YAML is :mod:`aml_jupyter.compute.runconfig_file`.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..environments.environment import DEFAULT_NAME, Environment
from ..environments.requirements import is_sdk_package
from ..errors import AmlError
from .distributed import MpiConfiguration, PyTorchConfiguration, TensorflowConfiguration

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace

#: v1's communicators that start MPI-style ranks; the rest are PyTorch backends.
MPI_COMMUNICATORS = {"intelmpi", "mpi", "openmpi"}
TORCH_COMMUNICATORS = {"nccl", "gloo"}


class DockerConfiguration:
    """Whether a run executes in a container (v1's ``docker_runtime_config``).

    ``use_docker=True`` runs the environment in docker as ``env.docker.enabled = True`` does
    (either one is enough; ``False`` does not turn off an environment's own docker);
    ``shm_size`` is the container's ``/dev/shm``; ``shared_volumes`` and ``arguments`` are kept
    for v1 files (the container always sees the run's folder and the workspace).
    """

    def __init__(
        self,
        use_docker: bool = False,
        shared_volumes: bool = True,
        arguments: list[str] | None = None,
        shm_size: str | None = "2g",
    ) -> None:
        self.use_docker = bool(use_docker)
        self.shared_volumes = bool(shared_volumes)
        self.arguments = list(arguments or [])
        self.shm_size = shm_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DockerConfiguration) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"DockerConfiguration(use_docker={self.use_docker!r}, shm_size={self.shm_size!r})"


class HistoryConfiguration:
    """v1's run-history settings. Every run records ``./outputs``, ``./logs`` and its snapshot
    whatever these say (kept so a v1 file round-trips)."""

    def __init__(
        self,
        output_collection: bool = True,
        snapshot_project: bool = True,
        directories_to_watch: list[str] | None = None,
    ) -> None:
        self.output_collection = bool(output_collection)
        self.snapshot_project = bool(snapshot_project)
        self.directories_to_watch = (
            ["logs"] if directories_to_watch is None else list(directories_to_watch)
        )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HistoryConfiguration) and vars(self) == vars(other)

    def __repr__(self) -> str:
        return f"HistoryConfiguration({vars(self)!r})"


class AmlComputeSettings:
    """``rc.amlcompute``: v1's run-based cluster settings (``vm_size``, ``vm_priority``,
    ``retain_cluster``, ``name``, ``cluster_max_node_count``). Kept in the run configuration's
    ``amlcompute`` section for its file; a local-first run picks its target by name."""

    _KEYS = {
        "vm_size": "vmSize",
        "vm_priority": "vmPriority",
        "retain_cluster": "retainCluster",
        "name": "name",
        "cluster_max_node_count": "clusterMaxNodeCount",
    }

    def __init__(self, kept: dict[str, Any]) -> None:
        object.__setattr__(self, "_kept", kept)

    def _section(self) -> dict[str, Any]:
        from .runconfig_file import KEPT

        section = self._kept.setdefault("amlcompute", copy.deepcopy(KEPT["amlcompute"]))
        return section if isinstance(section, dict) else {}

    def __getattr__(self, name: str) -> Any:
        if name not in AmlComputeSettings._KEYS:
            raise AttributeError(name)
        return self._section().get(AmlComputeSettings._KEYS[name])

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in AmlComputeSettings._KEYS:
            raise AttributeError(f"amlcompute has no setting {name!r}")
        self._section()[AmlComputeSettings._KEYS[name]] = value


class RunConfiguration:
    """What to run and how, by v1's names (``script``, ``arguments``, ``target``,
    ``environment``, ``node_count``, ``framework``, ``communicator``, ``mpi``, ``pytorch``,
    ``tensorflow``, ``docker``, ``history``, ``environment_variables``,
    ``max_run_duration_seconds``); ``save``/``load`` in v1's ``.runconfig`` YAML."""

    def __init__(
        self,
        script: str | None = None,
        arguments: list[Any] | None = None,
        framework: str | None = None,
        communicator: str | None = None,
        conda_dependencies: Any = None,
        _history_enabled: bool | None = None,
        _path: str | None = None,
        _name: str | None = None,
        command: list[str] | str | None = None,
    ) -> None:
        self.script = script
        self.arguments: list[Any] = list(arguments or [])
        self.command = command
        self.target: Any = "local"
        self.framework = framework or "Python"
        self.communicator = communicator or "None"
        self.max_run_duration_seconds: int | float | None = None
        self.priority: int | None = None
        self.mpi = MpiConfiguration()
        self.pytorch = PyTorchConfiguration()
        self.tensorflow = TensorflowConfiguration()
        self._node_count = 1
        self.docker = DockerConfiguration()
        self.history = HistoryConfiguration(output_collection=_history_enabled is not False)
        #: Variables every process of the run gets, over the environment's own.
        self.environment_variables: dict[str, str] = {}
        #: v1 sections kept as read (data, spark, amlcompute, ...): see runconfig_file.KEPT.
        self._kept: dict[str, Any] = {}
        self._environment: Environment | str | None = None
        self._default_environment: Environment | None = None
        self._name = _name
        self._path = _path
        if conda_dependencies is not None:
            self.environment.python.conda_dependencies = conda_dependencies

    @property
    def amlcompute(self) -> AmlComputeSettings:
        return AmlComputeSettings(self._kept)

    # the environment ---------------------------------------------------------------------------
    @property
    def environment(self) -> Any:
        """The run's environment. Left as it was made (``default-environment``, no packages,
        no variables), the run uses the submitting Python as it is, as a ``ScriptRunConfig``
        with no environment does."""
        if self._environment is None:
            self._environment = self._default_environment = Environment(DEFAULT_NAME)
        return self._environment

    @environment.setter
    def environment(self, value: Any) -> None:
        if value is not None and not isinstance(value, (Environment, str)):
            raise AmlError(
                "run_config.environment takes an Environment (or a registered environment's "
                f"'name' / 'name:version'), got {type(value).__name__}."
            )
        self._environment = value

    def _untouched_default(self) -> bool:
        """Whether the environment means "the submitting Python": none set, or v1's default
        (named ``default-environment``, or holding only Azure ML SDK packages such as the
        ``azureml-defaults`` a v1-saved file lists: ``azureml.core`` is served here)."""
        env = self._environment
        if env is None:
            return True
        if not isinstance(env, Environment):
            return False
        deps = env.python.conda_dependencies
        if (
            env.python.user_managed_dependencies
            or env.docker.enabled
            or deps._requirements is not None
            or deps.conda_packages
        ):
            return False
        if env.name == DEFAULT_NAME and not deps.pip_packages:
            return True
        return bool(deps.pip_packages) and all(is_sdk_package(p) for p in deps.pip_packages)

    # distribution -------------------------------------------------------------------------------
    @property
    def node_count(self) -> int:
        """Nodes of the run; with a distributed section in use (``communicator``), that
        section's ``node_count`` (setting one sets the other)."""
        section = self._distributed_section()
        return section.node_count if section is not None else self._node_count

    @node_count.setter
    def node_count(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise AmlError(f"node_count must be a whole number >= 1, got {value!r}.")
        self._node_count = value
        for section in (self.mpi, self.pytorch):
            section.node_count = value

    def _distributed_section(self) -> Any:
        communicator = str(self.communicator or "None").lower()
        if communicator in MPI_COMMUNICATORS:
            return self.mpi
        if communicator in TORCH_COMMUNICATORS or self.framework.lower() == "pytorch":
            return self.pytorch
        if communicator == "parameterserver" or self.framework.lower() == "tensorflow":
            return self.tensorflow
        return None

    @property
    def distributed_job_config(self) -> Any:
        """The distributed section in use (Mpi/PyTorch/TensorflowConfiguration), or None."""
        if str(self.communicator or "None").lower() == "none" and self._node_count == 1:
            return None
        return self._distributed_section()

    @distributed_job_config.setter
    def distributed_job_config(self, config: Any) -> None:
        """What ``ScriptRunConfig(distributed_job_config=...)`` does: framework, communicator,
        node count and the section, as v1 sets them."""
        if config is None:
            self.framework, self.communicator, self._node_count = "Python", "None", 1
        elif isinstance(config, MpiConfiguration):
            self.framework, self.communicator, self.mpi = "Python", "IntelMpi", config
            self._node_count = config.node_count
        elif isinstance(config, PyTorchConfiguration):
            self.framework, self.pytorch = "PyTorch", config
            self.communicator = config.communication_backend
            self._node_count = config.node_count
        elif isinstance(config, TensorflowConfiguration):
            self.framework, self.communicator, self.tensorflow = (
                "TensorFlow",
                "ParameterServer",
                config,
            )
        else:
            raise AmlError(
                "distributed_job_config takes a PyTorchConfiguration, MpiConfiguration or "
                f"TensorflowConfiguration, got {type(config).__name__}."
            )

    # submit ---------------------------------------------------------------------------------
    def _job_config(self) -> Any:
        """The distributed config a submit runs (None: one process). ``node_count`` > 1 with
        no communicator runs one process per node, as MPI with one process per node would."""
        section = self.distributed_job_config
        if section is None and self._node_count > 1:
            return MpiConfiguration(node_count=self._node_count)
        if isinstance(section, PyTorchConfiguration):
            # The communicator names the backend when set (a v1 file may say gloo only there).
            backend = str(self.communicator)
            if backend.lower() in TORCH_COMMUNICATORS:
                section = copy.copy(section)
                section.communication_backend = backend
        return section

    def _submission_environment(self, workspace: Workspace) -> Environment | None:
        """The environment a submit records: None for the submitting Python as it is, else
        the environment (a registered one resolved) with ``docker`` and the run-level
        ``environment_variables`` applied."""
        from ..environments.environment import resolve_environment

        use_docker = bool(self.docker is not None and self.docker.use_docker)
        variables = {str(k): str(v) for k, v in self.environment_variables.items()}
        if self._untouched_default():
            default = self._environment
            assert default is None or isinstance(default, Environment)
            if default is not None:
                variables = {**default.environment_variables, **variables}
            if not variables and not use_docker:
                return None
            # The submitting Python (or, in docker, the base image's) with these variables.
            env = Environment(DEFAULT_NAME if default is None else default.name)
            env.python.user_managed_dependencies = True
            env.docker.enabled = use_docker
            env.environment_variables = variables
            if self.docker is not None and self.docker.shm_size:
                env.docker._kept["shmSize"] = self.docker.shm_size
            return env
        found = resolve_environment(workspace, self._environment)
        assert found is not None
        env = found
        shm = self.docker.shm_size if self.docker is not None else None
        if variables or use_docker or (env.docker.enabled and shm and shm != "2g"):
            env = copy.deepcopy(env)
            env.environment_variables = {**(env.environment_variables or {}), **variables}
            env.docker.enabled = bool(env.docker.enabled or use_docker)
            if shm:  # the container's /dev/shm (a run setting: not part of the image's hash)
                env.docker._kept["shmSize"] = shm
        return env

    def _copy(self) -> RunConfiguration:
        """A deep copy that shares the target object (a ComputeTarget holds its workspace)."""
        return copy.deepcopy(self, {id(self.target): self.target})

    # files -------------------------------------------------------------------------------------
    def save(
        self,
        path: str | Path | None = None,
        name: str | None = None,
        separate_environment_yaml: bool = False,
    ) -> Path:
        """Write v1's YAML to ``<path>/.azureml/<name>.runconfig`` (``.azureml/`` created if
        need be; ``aml_config/`` when only that legacy folder exists), or to ``path`` when it
        names a file. Returns the file written."""
        from .runconfig_file import save

        return save(self, path, name, separate_environment_yaml)

    @staticmethod
    def load(path: str | Path, name: str | None = None) -> RunConfiguration:
        """Read a v1 ``.runconfig``: the file ``path``, else ``<path>/.azureml/<name>``,
        ``<path>/.azureml/<name>.runconfig`` (or ``aml_config/``), ``<path>/<name>.runconfig``."""
        from .runconfig_file import load

        return load(path, name)

    def __repr__(self) -> str:
        target = self.target if isinstance(self.target, str) else getattr(self.target, "name", "?")
        return (
            f"RunConfiguration(script={self.script!r}, target={target!r}, "
            f"framework={self.framework!r}, communicator={self.communicator!r}, "
            f"node_count={self.node_count!r}, environment={self.environment!r})"
        )


__all__ = [
    "DockerConfiguration",
    "HistoryConfiguration",
    "RunConfiguration",
    "TensorflowConfiguration",
]

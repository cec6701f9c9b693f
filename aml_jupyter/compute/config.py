"""``ScriptRunConfig``: what to run (a script or a command, its folder, arguments) and where."""

from __future__ import annotations

import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from ..tracking.submitting import experiment_method

if TYPE_CHECKING:
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace

#: v1's default: 30 days.
DEFAULT_MAX_RUN_DURATION_SECONDS = 2_592_000


def submit(
    config: ScriptRunConfig,
    workspace: Workspace,
    experiment_name: str,
    *,
    tags: dict[str, Any] | None = None,
    _parent_run_id: str | None = None,
    credential_passthrough: bool = False,
) -> Run:
    """How ``Experiment.submit`` runs a :class:`ScriptRunConfig`: on its compute target
    (``_parent_run_id``: as a child of that run). v1's signature; credentials are ignored."""
    from ..tracking.experiment import Experiment
    from . import ComputeTarget

    target = config.compute_target
    if not isinstance(target, ComputeTarget):
        target = ComputeTarget(workspace, config.target)
    experiment = Experiment(workspace, experiment_name, _check_name=False)
    return target.submit(experiment, config, tags, parent_id=_parent_run_id)


@experiment_method(submit_function=submit)
class ScriptRunConfig:
    """A script (or command) in a source folder, to be submitted with ``experiment.submit``.

    ``environment=None`` runs with the current Python interpreter, else an :class:`Environment`
    (or a registered environment's ``"name"`` / ``"name:version"``); ``compute_target`` is a
    target name (``'local'``, the default) or a :class:`ComputeTarget`. Signature as Azure ML
    v1. Every setting is kept in ``run_config`` (a :class:`RunConfiguration`, a copy of the one
    given): ``src.run_config.environment = env`` and ``environment=env`` are the same thing, and
    the arguments given here win over the ``run_config``'s, as in v1.
    """

    def __init__(
        self,
        source_directory: str | os.PathLike[str] = ".",
        script: str | None = None,
        arguments: list[Any] | None = None,
        run_config: Any = None,
        compute_target: Any = None,
        environment: Any = None,
        distributed_job_config: Any = None,
        resume_from: Any = None,
        max_run_duration_seconds: int = DEFAULT_MAX_RUN_DURATION_SECONDS,
        command: list[str] | str | None = None,
        docker_runtime_config: Any = None,
    ) -> None:
        from .runconfig import RunConfiguration

        if run_config is not None and not isinstance(run_config, RunConfiguration):
            raise AmlError(f"run_config takes a RunConfiguration, got {type(run_config).__name__}.")
        # v1 copies the given one: changing it afterwards does not change this config.
        #: Everything this config submits, except its folder (one copy of each setting).
        self.run_config: RunConfiguration = (
            RunConfiguration() if run_config is None else run_config._copy()
        )
        self.source_directory = os.fspath(source_directory)
        if script is not None or run_config is None:
            self.script = script
        if arguments is not None or run_config is None:
            self.arguments = arguments
        if command is not None:
            self.command = command
        if compute_target is not None:
            self.compute_target = compute_target
        if environment is not None:
            self.environment = environment
        if distributed_job_config is not None:
            self.distributed_job_config = distributed_job_config
        if run_config is None or max_run_duration_seconds != DEFAULT_MAX_RUN_DURATION_SECONDS:
            self.max_run_duration_seconds = max_run_duration_seconds
        if docker_runtime_config is not None:
            self.docker_runtime_config = docker_runtime_config
        self.resume_from = resume_from
        #: Datasets the run gets by name only, not in its arguments (v1's
        #: ``Estimator(inputs=[...])``): see compute.local.run_data.
        self._inputs: list[Any] = []
        #: Files added to the snapshot without existing on disk (a notebook cell as a script).
        self.extra_files: dict[str, bytes] = {}
        #: Snapshot limits for this submit (None: defaults / environment variables).
        self.snapshot_max_bytes: int | None = None
        self.snapshot_max_files: int | None = None

    # Each setting lives in run_config; these are its v1 spellings on ScriptRunConfig.
    @property
    def script(self) -> str | None:
        return self.run_config.script

    @script.setter
    def script(self, value: str | None) -> None:
        self.run_config.script = value

    @property
    def arguments(self) -> list[Any]:
        return self.run_config.arguments

    @arguments.setter
    def arguments(self, value: list[Any] | None) -> None:
        if isinstance(value, (str, bytes)):
            # list("--lr 0.1") would pass each character as an argument.
            raise AmlError(
                f"arguments={value!r} is a string; give a list, e.g. "
                f"arguments={shlex.split(value) if isinstance(value, str) else ['...']!r}."
            )
        self.run_config.arguments = list(value) if value is not None else []

    @property
    def command(self) -> list[str] | str | None:
        return self.run_config.command

    @command.setter
    def command(self, value: list[str] | str | None) -> None:
        self.run_config.command = value

    @property
    def compute_target(self) -> Any:
        """A target name (``'local'``) or a :class:`ComputeTarget`: ``run_config.target``."""
        return self.run_config.target

    @compute_target.setter
    def compute_target(self, value: Any) -> None:
        self.run_config.target = value if value is not None else "local"

    @property
    def target(self) -> str:
        """The compute target's name."""
        target = self.compute_target
        return target if isinstance(target, str) else str(getattr(target, "name", target))

    @property
    def environment(self) -> Any:
        """``run_config.environment``: an :class:`Environment` (left as made: the submitting
        Python) or a registered environment's name."""
        return self.run_config.environment

    @environment.setter
    def environment(self, value: Any) -> None:
        self.run_config.environment = value

    @property
    def distributed_job_config(self) -> Any:
        return self.run_config.distributed_job_config

    @distributed_job_config.setter
    def distributed_job_config(self, value: Any) -> None:
        self.run_config.distributed_job_config = value

    @property
    def max_run_duration_seconds(self) -> int | float:
        value = self.run_config.max_run_duration_seconds
        return DEFAULT_MAX_RUN_DURATION_SECONDS if value is None else value

    @max_run_duration_seconds.setter
    def max_run_duration_seconds(self, value: int | float | None) -> None:
        self.run_config.max_run_duration_seconds = value

    @property
    def docker_runtime_config(self) -> Any:
        return self.run_config.docker

    @docker_runtime_config.setter
    def docker_runtime_config(self, value: Any) -> None:
        from .runconfig import DockerConfiguration

        if not isinstance(value, DockerConfiguration):
            raise AmlError(
                "docker_runtime_config takes a DockerConfiguration(use_docker=...), got "
                f"{type(value).__name__}."
            )
        self.run_config.docker = value

    def validate(self) -> dict[str, Any]:
        """Check the config against the disk; return the run definition that gets recorded.

        Raises :class:`AmlError` with what to fix: a missing folder or script, an empty
        command, a bad duration.
        """
        source = Path(self.source_directory).expanduser()
        if not source.is_dir():
            raise AmlError(
                f"source_directory {self.source_directory!r} does not exist or is not a folder."
            )
        source = source.resolve()
        script = self.script
        if self.command is None:
            if not script:
                raise AmlError(
                    "ScriptRunConfig needs script= (a file in source_directory) or command=."
                )
            path = Path(script)
            if path.is_absolute():
                try:
                    script = path.resolve().relative_to(source).as_posix()
                except ValueError:
                    raise AmlError(
                        f"The script {script!r} is outside source_directory {str(source)!r}; "
                        "put it inside, or point source_directory at its folder."
                    ) from None
            if not (source / script).is_file() and script not in self.extra_files:
                raise AmlError(
                    f"The script {script!r} was not found in {str(source)!r}. Check the name, or "
                    "set source_directory to the folder that holds it."
                )
        elif isinstance(self.command, (list, tuple)):
            if not self.command:
                raise AmlError("command= is an empty list; give the program and its arguments.")
        elif not str(self.command).strip():
            raise AmlError("command= is empty; give the command line to run.")
        duration = self.max_run_duration_seconds
        if not isinstance(duration, (int, float)) or duration <= 0:
            raise AmlError(f"max_run_duration_seconds must be a positive number, got {duration!r}.")
        from .distributed import job_spec

        env = self.run_config._environment
        return {
            "distributed": job_spec(self.run_config._job_config()),
            "script": script,
            "arguments": [str(a) for a in self.arguments],
            "command": self.command if not isinstance(self.command, tuple) else list(self.command),
            "sourceDirectory": str(source),
            "target": self.target,
            "maxRunDurationSeconds": duration,
            # The target replaces the name with the environment's whole spec.
            "environment": None if env is None else getattr(env, "name", str(env)),
        }

    def __repr__(self) -> str:
        what = f"script={self.script!r}" if self.command is None else f"command={self.command!r}"
        return (
            f"ScriptRunConfig(source_directory={self.source_directory!r}, {what}, "
            f"arguments={self.arguments!r}, compute_target={self.target!r})"
        )

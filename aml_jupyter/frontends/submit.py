"""Submitting a path, the way front ends take it: a script file or a folder, plus options."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compute.config import ScriptRunConfig
from ..errors import AmlError
from ..tracking.experiment import Experiment

if TYPE_CHECKING:
    from ..tracking.run import Run
    from ..tracking.workspace import Workspace

#: A folder submitted without a script runs the first of these it holds.
ENTRY_SCRIPTS = ("train.py", "main.py", "run.py", "__main__.py")


def resolve_script(path: str, source_directory: str | None = None) -> tuple[str, str]:
    """``(source_directory, script)`` for a script file or a folder given by a user."""
    p = Path(path).expanduser()
    if p.is_dir():
        found = [name for name in ENTRY_SCRIPTS if (p / name).is_file()]
        if not found:
            scripts = sorted(q.name for q in p.glob("*.py"))
            if len(scripts) != 1:
                raise AmlError(
                    f"The folder {path!r} has no {' / '.join(ENTRY_SCRIPTS)}"
                    + (f" and several scripts ({', '.join(scripts[:5])})" if scripts else "")
                    + "; name the script to run, e.g. '{}/train.py'.".format(path.rstrip("/"))
                )
            found = scripts
        return str(source_directory or p), (
            found[0] if source_directory is None else str((p / found[0]).resolve())
        )
    if source_directory is not None:
        src = Path(source_directory).expanduser()
        script = p if p.is_absolute() or (src / p).exists() else p.resolve()
        return str(src), str(script)
    if not p.is_file():
        raise AmlError(
            f"The script {path!r} does not exist. Check the path (relative to {Path.cwd()})."
        )
    return str(p.resolve().parent), p.name


def default_experiment(source_directory: str) -> str:
    """An experiment name made from the source folder's name."""
    name = re.sub(r"[^A-Za-z0-9_\-]", "-", Path(source_directory).resolve().name).strip("-_")
    return name[:255] or "default"


def script_run_config(
    path: str,
    *,
    arguments: list[str] | None = None,
    source_directory: str | None = None,
    target: str = "local",
    distributed: Any = None,
    environment: Any = None,
) -> ScriptRunConfig:
    """The checked :class:`ScriptRunConfig` of a script (or a folder's entry script): needs no
    workspace, so a bad submit is refused before one is made."""
    source, script = resolve_script(path, source_directory)
    config = ScriptRunConfig(
        source,
        script,
        arguments=arguments or [],
        compute_target=target,
        distributed_job_config=distributed,
        environment=environment,
    )
    config.validate()
    return config


def submit_config(
    ws: Workspace,
    config: ScriptRunConfig,
    *,
    experiment: str | None = None,
    tags: dict[str, Any] | None = None,
    display_name: str | None = None,
) -> Run:
    """Submit ``config`` to ``experiment`` (default: named after its source folder)."""
    name = experiment or default_experiment(config.source_directory)
    run = Experiment(ws, name).submit(config, tags=tags)
    if display_name:
        run.display_name = display_name
    return run


def submit_path(
    ws: Workspace,
    path: str,
    *,
    arguments: list[str] | None = None,
    experiment: str | None = None,
    source_directory: str | None = None,
    target: str = "local",
    tags: dict[str, Any] | None = None,
    display_name: str | None = None,
    distributed: Any = None,
    environment: Any = None,
) -> Run:
    """Submit a script (or a folder's entry script) as a new run; returns it at once.

    ``distributed`` is a distributed job config (see :func:`distributed_config`);
    ``environment`` an Environment or a registered ``"name[:version]"``.
    """
    config = script_run_config(
        path,
        arguments=arguments,
        source_directory=source_directory,
        target=target,
        distributed=distributed,
        environment=environment,
    )
    return submit_config(ws, config, experiment=experiment, tags=tags, display_name=display_name)


def distributed_config(nodes: int | None, procs: int | None, backend: str | None) -> Any:
    """The job config for ``--nodes N --procs P --backend B`` (None when none is given).

    ``mpi`` gives an :class:`MpiConfiguration`; any other backend (``nccl``, ``gloo``) a
    :class:`PyTorchConfiguration` with ``N * P`` processes.
    """
    from ..compute.distributed import MpiConfiguration, PyTorchConfiguration

    if nodes is None and procs is None and backend is None:
        return None
    nodes, procs = nodes or 1, procs or 1
    if (backend or "").lower() == "mpi":
        return MpiConfiguration(process_count_per_node=procs, node_count=nodes)
    return PyTorchConfiguration(backend or "Gloo", process_count=nodes * procs, node_count=nodes)

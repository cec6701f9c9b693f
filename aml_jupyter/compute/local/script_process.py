"""What a run's script is started with (its argv and environment: ids for
``Run.get_context()`` and MLflow, the v1 shim on the path) and how a failed exit reads."""

from __future__ import annotations

import os
import re
import shlex
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...paths import MLFLOW_PLUGIN_DIR, PACKAGE_DIR, SHIM_DIR
from ...tracking.run_secrets import FD_ENV, SECRETS_ENV
from .sealed_secrets import KEY_ENV

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace

#: The folder holding the ``azureml`` shim, so v1 imports resolve to aml_jupyter in runs.
PACKAGE_PARENT = PACKAGE_DIR.parent
#: A remote run's secrets variables (:mod:`.sealed_secrets`), never inherited by a script.
SEALED_VARIABLES = (SECRETS_ENV, FD_ENV, KEY_ENV)
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b.*")


def script_environment(
    ws: Workspace,
    run_id: str,
    experiment: str,
    environment: dict[str, Any] | None = None,
    python: str | None = None,
) -> dict[str, str]:
    """The environment a run's script sees: ids for ``Run.get_context()`` and for MLflow
    (``mlflow.start_run()`` attaches to this run, see :mod:`aml_jupyter.frontends.mlflow`),
    the v1 shim, and the run environment's variables (its interpreter's folder first on PATH;
    they may name another ``MLFLOW_TRACKING_URI``)."""
    env = dict(os.environ)
    for name in SEALED_VARIABLES:  # a remote run's, inherited: its owner sets the script's own
        env.pop(name, None)
    env.update(
        {
            "MLFLOW_TRACKING_URI": ws.get_mlflow_tracking_uri(),
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_NAME": experiment,
        }
    )
    env.pop("MLFLOW_EXPERIMENT_ID", None)  # the submitter's would win over the name
    package = str(PACKAGE_PARENT)
    environment_variables: dict[str, str] = {}
    if environment is not None and python is not None:
        environment_variables = environment.get("environment_variables", {})
        env.update(environment_variables)
        bin_dir = str(Path(python).parent)
        env["PATH"] = os.pathsep.join([bin_dir, env.get("PATH", "")])
        if not environment["python"]["user_managed_dependencies"]:
            env["VIRTUAL_ENV"] = str(Path(python).parent.parent)
            # Only aml_jupyter itself, not the submitter's whole site-packages.
            from ...environments import build as envbuild

            package = str(envbuild.package_link(ws.folder))
            env.pop("PYTHONPATH", None)
    if not env["MLFLOW_TRACKING_URI"].startswith("aml:"):  # the environment's own server
        for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_NAME"):
            if name not in environment_variables:
                env.pop(name, None)
    path = [str(SHIM_DIR), str(MLFLOW_PLUGIN_DIR), package]
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env.update(
        {
            "AML_RUN_ID": run_id,
            "AML_WORKSPACE": str(ws.folder),
            "AML_EXPERIMENT_NAME": experiment,
            "AZUREML_RUN_ID": run_id,
            "AZUREML_ARM_PROJECT_NAME": experiment,
            "PYTHONPATH": os.pathsep.join(path),
            "PYTHONUNBUFFERED": "1",  # the driver log is live, line by line
        }
    )
    env.setdefault("MPLBACKEND", "Agg")
    env.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # MLflow's usage pings: nothing leaves
    return env


def command_line(definition: dict[str, Any]) -> list[str]:
    """The argv to start: ``python script args`` or the configured command."""
    command = definition.get("command")
    if command is None:
        return [definition["python"], definition["script"], *definition["arguments"]]
    if isinstance(command, str):
        return [
            "/bin/sh",
            "-c",
            command + "".join(" " + shlex.quote(a) for a in definition["arguments"]),
        ]
    return [*command, *definition["arguments"]]


def error_from_log(log: Path, code: int) -> str:
    """A one-line reason for a failed exit, from the last exception line of the driver log."""
    if code < 0:
        return f"The script was killed by signal {signal.Signals(-code).name}."
    try:
        with open(log, "rb") as f:
            f.seek(max(0, os.path.getsize(log) - 16384))
            lines = f.read().decode("utf-8", errors="replace").splitlines()
    except OSError:
        lines = []
    for line in reversed(lines):
        if _EXCEPTION_LINE.match(line.strip()):
            return f"Script exited with code {code}: {line.strip()}"
    last = next((line.strip() for line in reversed(lines) if line.strip()), "")
    return f"Script exited with code {code}" + (f": {last}" if last else ".")

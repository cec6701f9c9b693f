"""The Python and the variables a scoring service runs with (see :mod:`aml_jupyter.registry.deployment`).

``InferenceConfig(environment=None)``: this Python. A user-managed environment: its interpreter.
A managed one: its cached virtualenv, built with uv as for runs, plus tornado for the server.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace


def service_environment(spec: dict[str, Any], workspace_folder: Path) -> dict[str, str]:
    """The service's variables: v1's imports (``azureml.core.model``) served by the shim,
    aml_jupyter itself (only it, linked, in a built environment) and the environment's own."""
    from ..compute.local.script_process import PACKAGE_PARENT, SHIM_DIR
    from ..environments import build as envbuild

    env = dict(os.environ)
    env.update(spec.get("environment_variables") or {})
    path = [str(SHIM_DIR)]
    if spec.get("managed_environment"):
        path.append(str(envbuild.package_link(workspace_folder)))
        env.pop("PYTHONPATH", None)
    else:
        path.append(str(PACKAGE_PARENT))
    if env.get("PYTHONPATH"):
        path.append(env["PYTHONPATH"])
    env["PYTHONPATH"] = os.pathsep.join(path)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def service_python(ws: Workspace, environment: Any, log_path: Path) -> tuple[str, dict[str, Any]]:
    """The Python a service runs with, and what the service spec records about it.

    None: this Python. A user-managed environment: its interpreter (it needs tornado and the
    model's packages). A managed one: built with uv as for runs, plus tornado (the server).
    """
    from ..environments import build as envbuild
    from ..environments.environment import resolve_environment

    env = resolve_environment(ws, environment)
    if env is None:
        return sys.executable, {}
    if env.docker.enabled:
        raise AmlError(
            f"Environment {env.name!r} has docker.enabled; local services run on this machine: "
            "use an environment without docker (its packages in a cached virtualenv)."
        )
    info: dict[str, Any] = {
        "environment": env.name,
        "environment_variables": dict(env.environment_variables),
        "managed_environment": not env.python.user_managed_dependencies,
    }
    if env.python.user_managed_dependencies:
        return envbuild.interpreter(env._spec()), info
    served = env.clone(env.name)
    served.python.conda_dependencies.add_pip_package("tornado>=6.2")  # the scoring server
    spec = served._spec()
    envbuild.check(ws.folder, spec)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    return envbuild.resolve(ws.folder, spec, log_path), info

"""Deploying registered models as local scoring services, with Azure ML v1's names.

::

    service = Model.deploy(ws, "iris-svc", [model],
                           inference_config=InferenceConfig(entry_script="score.py",
                                                            source_directory="serve"),
                           deployment_config=LocalWebservice.deploy_configuration(port=8890))
    service.wait_for_deployment()
    service.run({"data": [[5.1, 3.5, 1.4, 0.2]]})       # or POST service.scoring_uri

A service is a detached process group (:mod:`aml_jupyter.registry.scoring_server`), so it outlives the
notebook that deployed it: a supervisor that keeps its workers running (a worker that dies is
replaced, with backoff: :mod:`aml_jupyter.registry.scoring_workers`) and ends with them on ``delete()``.
It lives in ``<workspace>/services/<name>/``: its spec, a copy of the models
(``AZUREML_MODEL_DIR``) and of the source folder (edits take effect on ``reload()``), its log
and its request statistics.
"""

from __future__ import annotations

import builtins
import json
import os
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compute.distributed import free_port
from ..compute.local.liveness import HOST, is_alive
from ..errors import AmlError
from .names import check_name
from .scoring_env import service_environment, service_python
from .scoring_workers import start_detached, stop_group

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace
    from .model import Model

#: Seconds ``deploy`` waits for the health route before giving up (init() may load a big model).
READY_TIMEOUT_S = float(os.environ.get("AML_SERVICE_READY_SECONDS", "120"))
_NO_CODE_FRAMEWORKS = {"scikitlearn", "sklearn"}
#: The largest request body a service takes, unless ``AML_SERVICE_MAX_BODY_BYTES`` says
#: otherwise when it is deployed (recorded in its service.json; a bigger body gets 413).
MAX_BODY_BYTES = 64 * 1024 * 1024
_MAX_BODY_VARIABLE = "AML_SERVICE_MAX_BODY_BYTES"


def _max_body_bytes() -> int:
    """The request size limit a new service gets: ``AML_SERVICE_MAX_BODY_BYTES`` or 64 MiB."""
    value = os.environ.get(_MAX_BODY_VARIABLE, "").strip()
    if not value:
        return MAX_BODY_BYTES
    if not value.isdigit() or int(value) < 1:
        raise AmlError(
            f"{_MAX_BODY_VARIABLE} must be a number of bytes >= 1, got {value!r}; "
            "unset it for the default (64 MiB)."
        )
    return int(value)


class InferenceConfig:
    """How to score: an entry script with ``init()`` and ``run(raw_data)`` in a source folder,
    and the environment to run it in (None: this Python). v1's signature."""

    def __init__(
        self,
        entry_script: str | None = None,
        runtime: str | None = None,
        conda_file: str | None = None,
        extra_docker_file_steps: str | None = None,
        source_directory: str | os.PathLike[str] | None = None,
        enable_gpu: bool | None = None,
        description: str | None = None,
        base_image: str | None = None,
        base_image_registry: Any = None,
        cuda_version: str | None = None,
        environment: Any = None,
    ) -> None:
        self.entry_script = entry_script
        self.source_directory = os.fspath(source_directory) if source_directory else None
        self.environment = environment
        self.description = description


class LocalWebserviceDeploymentConfiguration:
    """Where and how wide a local service runs: its port (None: a free one) and workers."""

    def __init__(self, port: int | None = None, workers: int = 1) -> None:
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise AmlError(f"port must be a number from 1 to 65535, got {port!r}.")
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise AmlError(f"workers must be a whole number >= 1, got {workers!r}.")
        self.port = port
        self.workers = workers


def _services_root(ws: Workspace) -> Path:
    return ws.folder / "services"


def _port_free(port: int) -> bool:
    """Whether a service could listen on ``port`` (as the server binds: closed connections
    still in TIME_WAIT do not count, a program listening there does)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalWebservice:
    """A model scoring service on this machine: ``LocalWebservice(ws, name)`` finds one."""

    @staticmethod
    def deploy_configuration(
        port: int | None = None, workers: int = 1
    ) -> LocalWebserviceDeploymentConfiguration:
        """v1's ``LocalWebservice.deploy_configuration``; ``workers`` > 1 load-balances."""
        return LocalWebserviceDeploymentConfiguration(port, workers)

    def __init__(self, workspace: Workspace, name: str) -> None:
        folder = _services_root(workspace) / check_name(name, "Service")  # a name, never a path
        if not (folder / "service.json").is_file():
            known = sorted(p.parent.name for p in _services_root(workspace).glob("*/service.json"))
            raise AmlError(
                f"No service {name!r} in this workspace. Services: "
                f"{', '.join(known) if known else 'none (Model.deploy makes one)'}."
            )
        self.workspace = workspace
        self.name = name
        self.folder = folder
        self._spec: dict[str, Any] = json.loads((folder / "service.json").read_text())

    @staticmethod
    def list(workspace: Workspace) -> list[LocalWebservice]:
        """Every service of the workspace, by name."""
        root = _services_root(workspace)
        if not root.is_dir():
            return []
        return [
            LocalWebservice(workspace, d.name)
            for d in sorted(root.iterdir())
            if (d / "service.json").is_file()
        ]

    # what it is ----------------------------------------------------------------------------
    @property
    def port(self) -> int:
        return int(self._spec["port"])

    @property
    def scoring_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/score"

    @property
    def swagger_uri(self) -> str:
        return f"http://127.0.0.1:{self.port}/swagger.json"

    @property
    def models(self) -> builtins.list[str]:
        """The deployed models' ids (``name:version``)."""
        return [str(m) for m in self._spec["models"]]

    def _pid(self) -> tuple[int | None, str | None]:
        try:
            pid, started = (self.folder / "pid").read_text().split()
        except (OSError, ValueError):
            return None, None
        return int(pid), started

    def is_running(self) -> bool:
        """Whether the service's supervisor (the leader of its process group) is alive."""
        pid, started = self._pid()
        return bool(pid) and is_alive(pid, started, HOST) is not False

    @property
    def state(self) -> str:
        """``Healthy`` (the supervisor lives and the health route answers, also while ``run()``
        is busy), ``Transitioning`` (starting: no worker has loaded the model yet),
        ``Unhealthy`` (the supervisor lives, no worker answers: all are restarting) or
        ``Failed`` (the supervisor is gone, even if a worker it left still answers)."""
        if not self.is_running():
            return "Failed"
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2) as r:
                return "Healthy" if r.status == 200 else "Unhealthy"
        except (urllib.error.URLError, OSError):
            return "Transitioning" if not (self.folder / "ready").exists() else "Unhealthy"

    # using it ------------------------------------------------------------------------------
    def run(self, input_data: Any) -> Any:
        """Score ``input_data`` (a JSON string, or anything JSON-able); returns the result.

        A 400 or 500 answer raises :class:`AmlError` with the service's error message.
        """
        body = input_data if isinstance(input_data, str) else json.dumps(input_data)
        request = urllib.request.Request(
            self.scoring_uri,
            data=body.encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read()).get("error", exc.reason)
            except ValueError:
                message = exc.reason
            raise AmlError(f"Service {self.name!r} answered {exc.code}: {message}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise AmlError(
                f"Service {self.name!r} does not answer at {self.scoring_uri} ({exc}); its "
                f"state is {self.state}: see service.get_logs()."
            ) from None

    def get_logs(self, num_lines: int = 5000) -> str:
        """The last lines of the service's log (init() and run() output, errors)."""
        try:
            lines = (self.folder / "service.log").read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-num_lines:])

    def get_stats(self) -> dict[str, Any]:
        """Requests so far: count, errors (by status), latency p50/p95/max in ms; the requests
        of workers since replaced count too (each worker appends to its own file)."""
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        for file in (self.folder / "stats").glob("*.jsonl"):
            for line in file.read_text().splitlines():
                try:
                    _, ms, status = json.loads(line)
                except ValueError:
                    continue  # a line being written
                latencies.append(float(ms))
                statuses[str(status)] = statuses.get(str(status), 0) + 1
        latencies.sort()

        def pct(q: float) -> float | None:
            return (
                latencies[min(len(latencies) - 1, int(q * len(latencies)))] if latencies else None
            )

        return {
            "requests": len(latencies),
            "errors": sum(n for s, n in statuses.items() if not s.startswith("2")),
            "by_status": statuses,
            "p50_ms": pct(0.50),
            "p95_ms": pct(0.95),
            "max_ms": latencies[-1] if latencies else None,
        }

    def wait_for_deployment(
        self, show_output: bool = False, timeout_sec: float | None = None
    ) -> None:
        """Wait until the service answers its health route; a failed start raises with its log."""
        deadline = time.monotonic() + (timeout_sec or READY_TIMEOUT_S)
        while time.monotonic() < deadline:
            state = self.state
            if state == "Healthy":
                if show_output:
                    print(f"Service {self.name!r} is Healthy at {self.scoring_uri}")
                return
            if state == "Failed":
                log = self.get_logs(30)
                last = next((x for x in reversed(log.splitlines()) if x.strip()), "no output")
                raise AmlError(
                    f"Service {self.name!r} failed to start: {last.strip()}\n"
                    f"--- the last lines of its log ---\n{log}"
                )
            time.sleep(0.05)
        raise AmlError(
            f"Service {self.name!r} did not become healthy in {timeout_sec or READY_TIMEOUT_S:g} s "
            f"(init() still running?). Its log:\n{self.get_logs(30)}"
        )

    # changing it ---------------------------------------------------------------------------
    def delete(self) -> None:
        """Stop the service (its whole process group, returning once every process of it has
        ended, so its port is free) and forget it."""
        self._stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def reload(self, wait: bool = True) -> None:
        """Restart with the current entry script and source folder (copied again)."""
        self._stop()
        source = self._spec.get("source_origin")
        if source:
            shutil.rmtree(self.folder / "source", ignore_errors=True)
            copy_source(self.workspace, Path(source), self.folder / "source")
        if not _port_free(self.port):  # _stop() returned once our workers let go of it
            raise AmlError(f"Port {self.port} is now used by another program; delete and redeploy.")
        _start(self)
        if wait:
            self.wait_for_deployment()

    def _stop(self) -> None:
        pid, started = self._pid()
        if pid:
            # Also when the supervisor is gone: workers it left may still hold the port.
            stop_group(pid, started or "")
        (self.folder / "pid").unlink(missing_ok=True)
        (self.folder / "ready").unlink(missing_ok=True)

    def serialize(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "scoring_uri": self.scoring_uri,
            "models": self.models,
            "workers": self._spec["workers"],
        }

    def __repr__(self) -> str:
        return f"LocalWebservice(name={self.name!r}, port={self.port}, models={self.models})"


def _start(service: LocalWebservice) -> None:
    """Start the service's supervisor detached (its own session and process group), logging
    to service.log."""
    python = service._spec.get("python", sys.executable)
    pid, started = start_detached(
        [python, "-m", "aml_jupyter.registry.scoring_server", str(service.folder)],
        service.folder / "service.log",
        service_environment(service._spec, service.workspace.folder),
    )
    (service.folder / "pid").write_text(f"{pid} {started}\n")


def deploy(
    workspace: Workspace,
    name: str,
    models: list[Model],
    inference_config: InferenceConfig | None = None,
    deployment_config: LocalWebserviceDeploymentConfiguration | None = None,
    overwrite: bool = False,
) -> LocalWebservice:
    """``Model.deploy``: check everything, lay out the service folder, start, wait for health."""
    check_name(name, "Service")
    if not models:  # Model.deploy checks they are Model objects
        raise AmlError("models must be a non-empty list of Model objects (Model(ws, name)).")
    config = deployment_config or LocalWebservice.deploy_configuration()
    if not isinstance(config, LocalWebserviceDeploymentConfiguration):
        raise AmlError("deployment_config must come from LocalWebservice.deploy_configuration().")
    max_body_bytes = _max_body_bytes()
    inference = inference_config or InferenceConfig()
    entry, source = inference.entry_script, inference.source_directory
    if entry:
        source_dir = Path(source or ".").expanduser().resolve()
        if not (source_dir / entry).is_file():
            raise AmlError(f"The entry script {entry!r} was not found in {str(source_dir)!r}.")
    else:
        model = models[0]
        framework = (model.model_framework or "").lower()
        if len(models) != 1 or framework not in _NO_CODE_FRAMEWORKS or model._row.is_folder:
            raise AmlError(
                "No entry_script: only one scikit-learn model file (registered with "
                "model_framework='ScikitLearn') deploys without one. Give "
                "InferenceConfig(entry_script='score.py', source_directory=...) otherwise."
            )
    folder = _services_root(workspace) / name
    if (folder / "service.json").exists():
        if not overwrite:
            raise AmlError(
                f"A service named {name!r} exists already; pass overwrite=True to replace it, "
                "or choose another name."
            )
        LocalWebservice(workspace, name).delete()
    port = config.port if config.port is not None else free_port()
    if not _port_free(port):
        raise AmlError(
            f"Port {port} is in use by another program; choose another with "
            "LocalWebservice.deploy_configuration(port=...) or leave it out to get a free one."
        )
    staging = folder.with_name(f".{name}.incoming")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        python, environment_info = service_python(
            workspace, inference.environment, staging / "environment_build.txt"
        )
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    try:
        no_code_file, model_dir = _stage(workspace, staging, folder, models, entry, source)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)  # a failed deploy leaves nothing behind
        raise
    spec = {
        "name": name,
        "port": port,
        "workers": config.workers,
        "models": [m.id for m in models],
        "model_dir": str(model_dir),
        "entry_script": entry,
        "source_directory": str(folder / "source") if entry else None,
        "source_origin": str(Path(source or ".").expanduser().resolve()) if entry else None,
        "no_code_model_file": no_code_file,
        "max_body_bytes": max_body_bytes,
        "python": python,
        **environment_info,
        "created_utc": time.time(),
    }
    (staging / "service.json").write_text(json.dumps(spec, indent=2))
    staging.rename(folder)
    service = LocalWebservice(workspace, name)
    _start(service)
    try:
        service.wait_for_deployment()
    except AmlError:
        service.delete()  # a service that cannot start is not left behind
        raise
    return service


def _stage(
    workspace: Workspace,
    staging: Path,
    folder: Path,
    models: list[Any],
    entry: str | None,
    source: str | None,
) -> tuple[str | None, Path]:
    """Copy the models (and the entry script's folder) into ``staging``; returns the no-code
    model file (if any) and what ``AZUREML_MODEL_DIR`` will be."""
    no_code_file = None
    model_root = staging / "models"
    for model in models:
        model._write(model_root / model.name / str(model.version) / model._row.path)
    # v1: one model -> AZUREML_MODEL_DIR is its version folder; several -> the parent of all.
    if len(models) == 1:
        m = models[0]
        model_dir = folder / "models" / m.name / str(m.version)
        if not entry:
            no_code_file = str(model_dir / m._row.path)
    else:
        model_dir = folder / "models"
    if entry:
        copy_source(workspace, Path(source or ".").expanduser().resolve(), staging / "source")
    return no_code_file, model_dir


def copy_source(workspace: Workspace, source: Path, destination: Path) -> None:
    """Copy an entry script's folder, never the workspace inside it (a source folder of "."
    in a project holding the workspace would copy the workspace into itself)."""
    skip = {Path(workspace.folder).resolve(), destination.resolve()}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if (Path(folder) / n).resolve() in skip}

    shutil.copytree(source, destination, ignore=ignore)


def services_using(workspace: Workspace, model_id: str) -> list[str]:
    """Names of running services that serve ``model_id``."""
    return [
        s.name for s in LocalWebservice.list(workspace) if model_id in s.models and s.is_running()
    ]


__all__ = ["InferenceConfig", "LocalWebservice", "LocalWebserviceDeploymentConfiguration"]

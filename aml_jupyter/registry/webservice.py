"""``Webservice``: a deployed scoring service, found by name among the workspace store's
service records (its live files in the store's ``ServiceFolder``): its state, scoring, logs and
statistics, keys, updating, reloading, deleting. ``Webservice(ws, name)`` gives it as the kind
it is: ``LocalWebservice`` (processes on this machine, started here: see
:mod:`aml_jupyter.registry.deployment`) or ``AciWebservice`` (a Docker container:
:mod:`aml_jupyter.registry.aci`)."""

from __future__ import annotations

import builtins
import json
import os
import shutil
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..compute.local.liveness import HOST, is_alive
from ..errors import AmlError, WebserviceException
from .service_config import LocalWebserviceDeploymentConfiguration
from .service_processes import copy_source, port_is_free, start_service, stop_folder

if TYPE_CHECKING:
    from ..store.types import ServiceRecord
    from ..tracking.workspace import Workspace

#: Seconds ``deploy`` waits for the health route before giving up (init() may load a big model).
READY_TIMEOUT_S = float(os.environ.get("AML_SERVICE_READY_SECONDS", "120"))


class Webservice:
    """A deployed scoring service: ``Webservice(ws, name)`` finds one, of whichever kind."""

    def __new__(
        cls, workspace: Workspace, name: str, _record: ServiceRecord | None = None
    ) -> Webservice:
        from .service_lookup import kind_class, record_of

        record = _record or record_of(workspace, name)
        kind = kind_class(str(record.spec.get("compute_type", "Local")))
        if not issubclass(kind, cls):
            raise WebserviceException(
                f"Service {name!r} is of type {record.spec.get('compute_type', 'Local')}, not "
                f"{cls.__name__}: use Webservice(ws, {name!r}) to get it as what it is."
            )
        return super().__new__(kind)

    def __init__(
        self, workspace: Workspace, name: str, _record: ServiceRecord | None = None
    ) -> None:
        from .service_lookup import record_of

        record = _record or record_of(workspace, name)
        self.workspace = workspace
        self.name = name
        self._files = workspace.store.service_folder(name)
        #: The service's folder on this machine (its log, pid, copies of models and source).
        self.folder = self._files.root
        self._spec: dict[str, Any] = dict(record.spec)
        self.created_time = record.created_utc
        self.updated_time = record.updated_utc

    @staticmethod
    def list(
        workspace: Workspace,
        compute_type: str | None = None,
        image_name: str | None = None,
        image_id: str | None = None,
        model_name: str | None = None,
        model_id: str | None = None,
        tags: Any = None,
        properties: Any = None,
        **_: Any,
    ) -> list[Webservice]:
        """Every service of the workspace, by name; v1's filters: ``compute_type``
        (``"Local"``, ``"ACI"``), ``model_name``, ``model_id`` (``name:version``), ``tags``
        (``["key", ["key", "value"]]``) and ``properties``."""
        from .service_lookup import matches

        filters = (compute_type, model_name, model_id, tags, properties)
        services = [Webservice(workspace, r.name, r) for r in workspace.store.list_services()]
        return [s for s in services if matches(s, *filters)]

    @property
    def compute_type(self) -> str:
        """``Local`` or ``ACI``, as v1."""
        return str(self._spec.get("compute_type", "Local"))

    @property
    def tags(self) -> dict[str, Any]:
        return dict(self._spec.get("tags") or {})

    @property
    def properties(self) -> dict[str, Any]:
        return dict(self._spec.get("properties") or {})

    @property
    def description(self) -> str | None:
        return self._spec.get("description")

    @property
    def auth_enabled(self) -> bool:
        return bool(self._spec.get("auth_enabled"))

    # keys ------------------------------------------------------------------------------------
    def get_keys(self) -> tuple[str, str]:
        """The primary and secondary keys of a service deployed with ``auth_enabled``
        (send one as ``Authorization: Bearer KEY``)."""
        from .service_keys import load_keys

        self._need_auth()
        return load_keys(self.workspace, self.name)

    def regen_key(self, key: str, set_key: str | None = None) -> None:
        """Replace the ``"Primary"`` or ``"Secondary"`` key (with ``set_key``, or a new random
        one); the service takes it at once."""
        from .service_keys import replace_key

        self._need_auth()
        hashes = replace_key(self.workspace, self.name, key, set_key)
        self._save_spec({"auth_key_hashes": hashes})
        self._keys_changed()

    def _need_auth(self) -> None:
        if not self.auth_enabled:
            raise WebserviceException(
                f"Service {self.name!r} does not use keys: deploy it with "
                "AciWebservice.deploy_configuration(auth_enabled=True), or "
                "service.update(auth_enabled=True)."
            )

    def _deployment_config(self) -> Any:
        """The deployment configuration it runs with now (for ``update``)."""
        raise NotImplementedError

    def _keys_changed(self) -> None:
        """Let the running service know its keys changed (a container restarts)."""

    def _save_spec(self, changes: dict[str, Any]) -> None:
        self._spec.update(changes)
        record = self.workspace.store.update_service(self.name, self._spec)
        self.updated_time = record.updated_utc

    def _update_labels(self, tags: Any, properties: Any, description: str | None) -> None:
        """``update``'s tags (replaced), properties (added, write-once) and description."""
        from .service_lookup import label_changes

        changes = label_changes(self.properties, tags, properties, description)
        if changes:
            self._save_spec(changes)

    def _redeploy(self, models: Any, inference_config: Any, deployment_config: Any) -> None:
        """Deploy again under this name with what is given, the rest as it was."""
        from .deployment import redeploy

        fresh = redeploy(self, models, inference_config, deployment_config)
        self.__dict__.update(fresh.__dict__)

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

    def is_running(self) -> bool:
        """Whether the service's supervisor (the leader of its process group) is alive."""
        pid, started = self._files.read_pid()
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
            return "Transitioning" if not self._files.ready_flag.exists() else "Unhealthy"

    # using it ------------------------------------------------------------------------------
    def run(self, input_data: Any) -> Any:
        """Score ``input_data`` (a JSON string, or anything JSON-able); returns the result.

        A 400 or 500 answer raises :class:`AmlError` with the service's error message.
        """
        body = input_data if isinstance(input_data, str) else json.dumps(input_data)
        headers = {"Content-Type": "application/json"}
        if self.auth_enabled:
            headers["Authorization"] = f"Bearer {self.get_keys()[0]}"
        request = urllib.request.Request(
            self.scoring_uri, data=body.encode(), headers=headers, method="POST"
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
            lines = self._files.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-num_lines:])

    def get_stats(self) -> dict[str, Any]:
        """Requests so far: count, errors (by status), latency p50/p95/max in ms; the requests
        of workers since replaced count too (each worker appends to its own file)."""
        latencies: list[float] = []
        statuses: dict[str, int] = {}
        for file in self._files.stats_files():
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
        self.workspace.store.delete_service(self.name)

    def reload(self, wait: bool = True) -> None:
        """Restart with the current entry script and source folder (copied again)."""
        self._stop()
        source = self._spec.get("source_origin")
        if source:
            shutil.rmtree(self._files.source_folder, ignore_errors=True)
            copy_source(self.workspace, Path(source), self._files.source_folder)
        if not port_is_free(self.port):  # _stop() returned once our workers let go of it
            raise AmlError(f"Port {self.port} is now used by another program; delete and redeploy.")
        start_service(self.workspace.folder, self.name, self._spec, self._files)
        if wait:
            self.wait_for_deployment()

    def _stop(self) -> None:
        stop_folder(self._files)

    def serialize(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "scoring_uri": self.scoring_uri,
            "models": self.models,
            "workers": self._spec["workers"],
        }

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, port={self.port}, models={self.models})"


class LocalWebservice(Webservice):
    """A model scoring service in processes on this machine."""

    def _deployment_config(self) -> LocalWebserviceDeploymentConfiguration:
        return LocalWebserviceDeploymentConfiguration(self.port, int(self._spec["workers"]))

    @staticmethod
    def deploy_configuration(
        port: int | None = None, workers: int = 1
    ) -> LocalWebserviceDeploymentConfiguration:
        """v1's ``LocalWebservice.deploy_configuration``; ``workers`` > 1 load-balances."""
        return LocalWebserviceDeploymentConfiguration(port, workers)

    def update(
        self,
        models: builtins.list[Any] | None = None,
        image_config: Any = None,
        deployment_config: Any = None,
        port: int | None = None,
        wait: bool = False,
        inference_config: Any = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
    ) -> None:
        """v1's ``update``: new models, inference or deployment config (or ``port``) deploy
        the service again under its name; tags, properties and description change in place."""
        self._update_labels(tags, properties, description)
        if port is not None:
            deployment_config = LocalWebserviceDeploymentConfiguration(
                port, (deployment_config.workers if deployment_config else self._spec["workers"])
            )
        if models is not None or inference_config is not None or deployment_config is not None:
            self._redeploy(models, inference_config, deployment_config)


def services_using(workspace: Workspace, model_id: str) -> list[str]:
    """Names of running services that serve ``model_id``."""
    return [s.name for s in Webservice.list(workspace) if model_id in s.models and s.is_running()]


__all__ = ["LocalWebservice", "Webservice", "services_using"]

"""``AciWebservice``: a scoring service in a Docker container, as v1's Azure Container Instances.

::

    config = AciWebservice.deploy_configuration(cpu_cores=1, memory_gb=1, auth_enabled=True)
    service = Model.deploy(ws, "iris-aci", [model], inference_config, config)
    service.wait_for_deployment(show_output=True)
    key, _ = service.get_keys()
    service.run(json.dumps({"data": [[5.1, 3.5, 1.4, 0.2]]}))   # sends the key itself

The image (:mod:`.aci_image`) is the environment's Docker image (built as for docker runs,
with the scoring server's tornado added) plus the models, the entry script's folder and
aml_jupyter's own code, named by the hash of all of it: deploying the same again reuses it.
The container runs detached with the host's network (the service listens on
``127.0.0.1:PORT``, as a local one), limited to ``cpu_cores`` CPUs and ``memory_gb`` GiB, and
labelled with the service and workspace; ``delete()`` removes it. With ``auth_enabled`` the
service takes only requests with ``Authorization: Bearer KEY``; the container is given the
keys' hashes only (:mod:`.service_keys`).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from ..compute.local.ranks import free_port
from ..errors import AmlError, WebserviceException
from .service_config import max_body_bytes
from .service_keys import forget_keys, new_keys
from .service_processes import port_is_free
from .webservice import Webservice

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace
    from .model import Model
    from .service_config import InferenceConfig

#: Labels on every service container, to find them (tests, cleanup).
SERVICE_LABEL = "aml.service"
WORKSPACE_LABEL = "aml.workspace"


class AciServiceDeploymentConfiguration:
    """What ``AciWebservice.deploy_configuration`` returns: checked at once."""

    def __init__(
        self,
        cpu_cores: float | None,
        memory_gb: float | None,
        auth_enabled: bool | None,
        tags: dict[str, Any] | None,
        properties: dict[str, Any] | None,
        description: str | None,
        port: int | None = None,
    ) -> None:
        self.cpu_cores = _positive(0.1 if cpu_cores is None else cpu_cores, "cpu_cores")
        self.memory_gb = _positive(0.5 if memory_gb is None else memory_gb, "memory_gb")
        if self.memory_gb < 0.01:
            raise WebserviceException("memory_gb must be at least 0.01 (10 MiB).")
        self.auth_enabled = bool(auth_enabled)
        for what, value in (("tags", tags), ("properties", properties)):
            if value is not None and not isinstance(value, dict):
                raise WebserviceException(f"{what} must be a dict, got {type(value).__name__}.")
        self.tags = {str(k): str(v) for k, v in (tags or {}).items()}
        self.properties = {str(k): str(v) for k, v in (properties or {}).items()}
        self.description = description
        if port is not None and (not isinstance(port, int) or not 0 < port < 65536):
            raise WebserviceException(f"port must be a number from 1 to 65535, got {port!r}.")
        self.port = port


def _positive(value: Any, what: str) -> float:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0:
        raise WebserviceException(f"{what} must be a number > 0, got {value!r}.")
    return float(value)


class AciWebservice(Webservice):
    """A model scoring service in a Docker container (v1's ACI service, on this machine)."""

    @staticmethod
    def deploy_configuration(
        cpu_cores: float | None = None,
        memory_gb: float | None = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        location: str | None = None,
        auth_enabled: bool | None = None,
        ssl_enabled: bool | None = None,
        enable_app_insights: bool | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        dns_name_label: str | None = None,
        primary_key: str | None = None,
        secondary_key: str | None = None,
        collect_model_data: bool | None = None,
        cmk_vault_base_url: str | None = None,
        cmk_key_name: str | None = None,
        cmk_key_version: str | None = None,
        vnet_name: str | None = None,
        subnet_name: str | None = None,
        port: int | None = None,
    ) -> AciServiceDeploymentConfiguration:
        """v1's signature (cpu_cores 0.1 and memory_gb 0.5 by default, as v1); ``port``: ours,
        where it listens on 127.0.0.1 (None: a free one). TLS, DNS, App Insights and network
        settings have no meaning on this machine and are accepted as they are."""
        if ssl_enabled:
            raise WebserviceException(
                "ssl_enabled is not supported: the service listens on 127.0.0.1 only; put a "
                "TLS proxy in front of it to serve it outside this machine."
            )
        return AciServiceDeploymentConfiguration(
            cpu_cores, memory_gb, auth_enabled, tags, properties, description, port
        )

    # the container ---------------------------------------------------------------------------
    def _container(self) -> Any | None:
        from ..environments.docker_image import client

        try:
            engine = client(timeout=10)
            return engine.containers.get(self._spec["container"])
        except AmlError:
            raise
        except Exception:  # docker.errors.NotFound: removed from outside
            return None

    def is_running(self) -> bool:
        """Whether the service's container is running (False when no engine answers)."""
        try:
            container = self._container()
        except AmlError:
            return False
        return container is not None and container.status == "running"

    def get_logs(self, num_lines: int = 5000) -> str:
        """The last lines of the container's output (init() and run() output, errors)."""
        container = self._container()
        if container is None:
            return ""
        return container.logs(tail=num_lines).decode(errors="replace")

    def _stop(self) -> None:
        container = self._container()
        if container is not None:
            container.remove(force=True)

    def delete(self) -> None:
        """Remove the container (and its keys) and forget the service; its image stays
        cached for a later deployment of the same content."""
        super().delete()
        forget_keys(self.workspace, self.name)

    def reload(self, wait: bool = True) -> None:
        """Build the image again from the source folder as it is now, and restart."""
        self._redeploy(None, None, None)

    def _deployment_config(self) -> AciServiceDeploymentConfiguration:
        s = self._spec
        return AciServiceDeploymentConfiguration(
            s["cpu_cores"], s["memory_gb"], s.get("auth_enabled"), s.get("tags"),
            s.get("properties"), s.get("description"), int(s["port"]),
        )  # fmt: skip

    def _keys_changed(self) -> None:
        self._stop()
        start_container(self)
        self.wait_for_deployment()

    def update(
        self,
        image: Any = None,
        tags: dict[str, Any] | None = None,
        properties: dict[str, Any] | None = None,
        description: str | None = None,
        auth_enabled: bool | None = None,
        ssl_enabled: bool | None = None,
        ssl_cert_pem_file: str | None = None,
        ssl_key_pem_file: str | None = None,
        ssl_cname: str | None = None,
        enable_app_insights: bool | None = None,
        models: builtins.list[Model] | None = None,
        inference_config: InferenceConfig | None = None,
        **_: Any,
    ) -> None:
        """v1's ``update``: tags (replaced), properties (added) and description in place;
        ``auth_enabled`` makes (or drops) the keys and restarts the container; new models or an
        inference config build a new image and replace the container."""
        if ssl_enabled:
            raise WebserviceException("ssl_enabled is not supported (see deploy_configuration).")
        self._update_labels(tags, properties, description)
        if auth_enabled is not None and bool(auth_enabled) != self.auth_enabled:
            hashes = new_keys(self.workspace, self.name) if auth_enabled else []
            if not auth_enabled:
                forget_keys(self.workspace, self.name)
            self._save_spec({"auth_enabled": bool(auth_enabled), "auth_key_hashes": hashes})
            self._keys_changed()
        if models is not None or inference_config is not None:
            self._redeploy(models, inference_config, None)

    def serialize(self) -> dict[str, Any]:
        return {
            **super().serialize(),
            "computeType": "ACI",
            "cpu_cores": self._spec["cpu_cores"],
            "memory_gb": self._spec["memory_gb"],
            "auth_enabled": self.auth_enabled,
            "image": self._spec["image"],
        }


def start_container(service: AciWebservice) -> None:
    """Run the service's image detached: host network, its CPU and memory limits, labels;
    the port and the keys' hashes as variables (never a key)."""
    from ..environments.docker_image import client

    spec = service._spec
    engine = client(timeout=60)
    try:
        engine.containers.run(
            spec["image"],
            detach=True,
            name=spec["container"],
            network_mode="host",
            nano_cpus=int(float(spec["cpu_cores"]) * 1e9),
            mem_limit=f"{max(10, int(float(spec['memory_gb']) * 1024))}m",
            environment={
                "AML_SERVICE_NAME": service.name,
                "AML_SERVICE_PORT": str(spec["port"]),
                "AML_SERVICE_MAX_BODY_BYTES": str(spec["max_body_bytes"]),
                "AML_SERVICE_KEY_HASHES": ",".join(spec.get("auth_key_hashes") or []),
            },
            labels={SERVICE_LABEL: service.name, WORKSPACE_LABEL: str(service.workspace.folder)},
        )
    except Exception as exc:  # docker.errors.APIError: the engine refused (limits, name)
        raise WebserviceException(
            f"Docker could not start the container of service {service.name!r}: "
            f"{getattr(exc, 'explanation', None) or exc}"
        ) from None


def deploy_aci(
    workspace: Workspace,
    name: str,
    models: list[Model],
    inference: InferenceConfig,
    config: AciServiceDeploymentConfiguration,
    inference_record: dict[str, Any],
) -> AciWebservice:
    """``Model.deploy`` with an ACI configuration: build (or reuse) the image, record the
    service, run its container, wait for its health route; a failure leaves nothing behind."""
    import secrets

    from .aci_image import build_service_image

    port = config.port if config.port is not None else free_port()
    if not port_is_free(port):
        raise WebserviceException(
            f"Port {port} is in use by another program; choose another with "
            "AciWebservice.deploy_configuration(port=...) or leave it out to get a free one."
        )
    store = workspace.store
    files = store.service_folder(name)
    files.root.mkdir(parents=True, exist_ok=True)
    image, model_dir, no_code = build_service_image(workspace, name, models, inference, files)
    spec = {
        "name": name,
        "compute_type": "ACI",
        "port": port,
        "workers": 1,
        "models": [m.id for m in models],
        "image": image,
        "container": f"aml-svc-{name}-{secrets.token_hex(4)}",
        "cpu_cores": config.cpu_cores,
        "memory_gb": config.memory_gb,
        "auth_enabled": config.auth_enabled,
        "auth_key_hashes": new_keys(workspace, name) if config.auth_enabled else [],
        "tags": config.tags,
        "properties": config.properties,
        "description": config.description,
        "entry_script": inference.entry_script,
        "model_dir": model_dir,
        "no_code_model_file": no_code,
        "max_body_bytes": max_body_bytes(),
        "inference": inference_record,
    }
    try:
        store.add_service(name, spec)
    except BaseException:
        forget_keys(workspace, name)
        raise
    service = AciWebservice(workspace, name)
    try:
        start_container(service)
        service.wait_for_deployment()
    except BaseException:
        service.delete()
        raise
    return service


__all__ = ["AciServiceDeploymentConfiguration", "AciWebservice", "deploy_aci", "start_container"]

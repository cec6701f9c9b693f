"""The image of an ACI-style service: environment + models + entry script + the server.

Two layers over the base image (``make docker`` builds it; nothing is pulled):

1. the environment's image, built as for docker runs (:mod:`aml_jupyter.environments.docker_image`:
   its pip packages installed by uv on the host, copied in) with ``tornado`` added for the
   scoring server; no environment: an image with the server's packages only;
2. ``/var/azureml-app``: the models (as v1 lays them out under ``AZUREML_MODEL_DIR``), the
   entry script's folder, aml_jupyter's Python files and v1's ``azureml`` names (so the
   container needs nothing from the host), and the service's settings.

Layer 2 is written as a tar with fixed times and owners, so the same content gives the same
bytes; its SHA-256 (with the environment image's id) names the image ``aml-service:<hash>``,
and a deployment whose image exists already starts at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WebserviceException
from ..paths import PACKAGE_DIR

if TYPE_CHECKING:
    from ..store.service_folder import ServiceFolder
    from ..tracking.workspace import Workspace
    from .model import Model
    from .service_config import InferenceConfig

REPOSITORY = "aml-service"
APP = "/var/azureml-app"
#: The scoring server's own package, added to a managed environment.
SERVER_PACKAGES = ["tornado>=6.2"]


def environment_spec(ws: Workspace, inference: InferenceConfig) -> dict[str, Any]:
    """The spec of the service's environment image: its environment in docker, + tornado."""
    from ..environments.environment import Environment, resolve_environment

    env = resolve_environment(ws, inference.environment)
    served = env.clone(env.name) if env is not None else Environment("aci-scoring")
    served.docker.enabled = True
    if not served.python.user_managed_dependencies:
        for package in SERVER_PACKAGES:
            served.python.conda_dependencies.add_pip_package(package)
    return served._spec()


def environment_image(ws: Workspace, inference: InferenceConfig, log: Path) -> str:
    """The environment's Docker image (built once, cached by the environment's hash)."""
    from ..environments import docker_image as dockerenv

    spec = environment_spec(ws, inference)
    dockerenv.check(spec)
    log.parent.mkdir(parents=True, exist_ok=True)
    dockerenv.resolve(ws.folder, spec, log)
    return dockerenv.image_name(spec)


def _add(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, 0
    info.uid = info.gid = 0
    tar.addfile(info, io.BytesIO(data))


def _add_tree(tar: tarfile.TarFile, folder: Path, prefix: str, only_py: bool = False) -> None:
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink() or "__pycache__" in path.parts:
            continue
        if only_py and path.suffix != ".py":
            continue
        _add(tar, f"{prefix}/{path.relative_to(folder).as_posix()}", path.read_bytes())


def _context(
    ws: Workspace, models: list[Model], inference: InferenceConfig, base: str
) -> tuple[bytes, str, str | None]:
    """The build context (a tar), ``AZUREML_MODEL_DIR`` in the image, the no-code model file."""
    from .service_processes import copy_source

    entry = inference.entry_script
    buffer = io.BytesIO()
    with (
        tempfile.TemporaryDirectory(prefix="aml-aci-") as tmp,
        tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        staged = Path(tmp)
        for model in models:
            model._write(staged / "models" / model.name / str(model.version) / model._row.path)
        _add_tree(tar, staged / "models", "app/azureml-models")
        if len(models) == 1:  # v1: one model -> its version folder; several -> the parent
            m = models[0]
            model_dir = f"{APP}/azureml-models/{m.name}/{m.version}"
            no_code = None if entry else f"{model_dir}/{m._row.path}"
        else:
            model_dir, no_code = f"{APP}/azureml-models", None
        if entry:
            copy_source(
                ws,
                Path(inference.source_directory or ".").expanduser().resolve(),
                staged / "source",
            )
            _add_tree(tar, staged / "source", "app/source")
        _add_tree(tar, PACKAGE_DIR, "app/aml/aml_jupyter", only_py=True)
        settings = {
            "entry_script": entry,
            "source_directory": f"{APP}/source" if entry else None,
            "model_dir": model_dir,
            "no_code_model_file": no_code,
        }
        _add(tar, "app/service.json", json.dumps(settings, sort_keys=True).encode())
        dockerfile = "\n".join([
            f"FROM {base}",
            f"COPY app {APP}",
            f"ENV AZUREML_MODEL_DIR={model_dir} PYTHONUNBUFFERED=1 "
            f"PYTHONPATH={APP}/aml/aml_jupyter/_azureml_shim:{APP}/aml",
            f"WORKDIR {APP}",
            'CMD ["python", "-m", "aml_jupyter.registry.scoring_server", "--container", '
            f'"{APP}/service.json"]',
            "",
        ])  # fmt: skip
        _add(tar, "Dockerfile", dockerfile.encode())
    return buffer.getvalue(), model_dir, no_code


def build_service_image(
    ws: Workspace,
    name: str,
    models: list[Model],
    inference: InferenceConfig,
    files: ServiceFolder,
) -> tuple[str, str, str | None]:
    """The service's image (built now, or found by its content hash), ``AZUREML_MODEL_DIR``
    in it and the no-code model file (if any)."""
    from ..environments.docker_image import _find, client

    log = files.environment_build_log
    base = environment_image(ws, inference, log)
    engine = client()
    base_image = _find(engine, base)
    if base_image is None:
        raise WebserviceException(f"The environment image {base!r} went missing; deploy again.")
    context, model_dir, no_code = _context(ws, models, inference, base)
    digest = hashlib.sha256(base_image.id.encode() + b"\0" + context).hexdigest()[:24]
    tag = f"{REPOSITORY}:{digest}"
    if _find(engine, tag) is not None:
        with open(log, "a") as out:
            out.write(f"Reusing image {tag} of service {name!r}: same content\n")
        return tag, model_dir, no_code
    error = None
    with open(log, "a") as out:
        out.write(f"Building image {tag} of service {name!r} from {base}\n")
        for chunk in engine.api.build(
            fileobj=io.BytesIO(context),
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            network_mode="none",
            labels={"aml.service_image": "1"},
            decode=True,
        ):
            if "stream" in chunk:
                out.write(chunk["stream"])
            error = chunk.get("error") or error
    if error:
        raise WebserviceException(f"Building the image of service {name!r} failed: {error}")
    return tag, model_dir, no_code


__all__ = ["build_service_image", "environment_image", "environment_spec"]

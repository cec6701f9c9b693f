"""Docker environments (``env.docker.enabled``): an image per environment, built once.

The image is the base image (``env.docker.base_image``, else ``$AML_DOCKER_BASE_IMAGE``, else
``aml-jupyter/python:3.11``, built locally by ``make docker``) plus the environment's pip
packages, tagged ``aml-env:<environment hash>`` and reused by every later run. Containers have
no network here, so nothing is installed inside one: uv installs the packages on the host for
the image's Python version and platform (``--target``), and the build only ``COPY``s them from
a tar context into the image's site-packages. A user-managed docker environment runs in the
base image as it is.
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

from ..errors import AmlError
from .cache import envs_root, try_lock
from .requirements import pip_requirements
from .uv import run as run_uv
from .uv import uv_command

DEFAULT_BASE_IMAGE = "aml-jupyter/python:3.11"
REPOSITORY = "aml-env"
#: The oldest Python aml_jupyter (mounted into the container) runs on.
MIN_PYTHON = (3, 10)
#: Where a built image keeps its environment's spec (also: proof a run is in the image).
SPEC_IN_IMAGE = "/etc/aml-environment.json"
_FIX_ENGINE = (
    "Start one (as root: `make docker` installs docker.io and starts dockerd; or "
    "`sudo systemctl start docker`), point DOCKER_HOST at it, or set "
    "env.docker.enabled = False to run in a cached virtualenv instead."
)
#: What the build asks the base image's Python (run once per build, with no network).
_PROBE = (
    "import json, platform, site, sys; print(json.dumps({'version': list(sys.version_info[:3]), "
    "'executable': sys.executable, 'site': site.getsitepackages()[0], "
    "'libc': list(platform.libc_ver()), 'machine': platform.machine()}))"
)


#: The repository of base images built from an environment's Dockerfile (from_dockerfile).
DOCKERFILE_REPOSITORY = "aml-dockerfile"


def base_image(spec: dict[str, Any]) -> str:
    dockerfile = spec["docker"].get("base_dockerfile")
    if dockerfile:  # built here from the Dockerfile, named by its content
        digest = hashlib.sha256(dockerfile.encode()).hexdigest()[:16]
        return f"{DOCKERFILE_REPOSITORY}:{digest}"
    return str(
        spec["docker"].get("base_image")
        or os.environ.get("AML_DOCKER_BASE_IMAGE")
        or DEFAULT_BASE_IMAGE
    )


def image_name(spec: dict[str, Any]) -> str:
    """The image a run of this environment starts: its own, or the base one if user-managed."""
    if spec["python"]["user_managed_dependencies"]:
        return base_image(spec)
    return f"{REPOSITORY}:{spec['hash']}"


def client(timeout: int = 60) -> Any:
    """A client of the engine ``DOCKER_HOST`` (or the local socket) names; AmlError if none."""
    try:
        import docker
    except ImportError:
        raise AmlError(
            "Docker environments need the docker SDK: `pip install 'docker>=7'`."
        ) from None
    try:
        engine = docker.from_env(timeout=timeout)
        engine.ping()
    except docker.errors.DockerException as exc:
        where = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        raise AmlError(
            f"No docker engine answers at {where} ({_short(exc)}). {_FIX_ENGINE}"
        ) from None
    return engine


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) < 160 else text[:157] + "..."


def _find(engine: Any, name: str) -> Any | None:
    import docker

    try:
        return engine.images.get(name)
    except docker.errors.ImageNotFound:
        return None


def _built(engine: Any, spec: dict[str, Any]) -> Any | None:
    """The environment's image, if built from the base image in use now."""
    image = _find(engine, image_name(spec))
    if image is None or spec["python"]["user_managed_dependencies"]:
        return image
    return image if image.labels.get("aml.base_image") == base_image(spec) else None


def check(spec: dict[str, Any]) -> None:
    """At submit: an engine answers and the image (or the base image to build it) is here."""
    engine = client(timeout=10)
    if _built(engine, spec) is not None:
        return
    base = base_image(spec)
    if not spec["python"]["user_managed_dependencies"]:
        uv_command()  # the build installs the packages with it
    if spec["docker"].get("base_dockerfile"):
        return  # its base image is built from the Dockerfile while the run is Preparing
    if _find(engine, base) is None:
        how = (
            "`make docker` (or `sudo scripts/build_base_image.sh`) builds it with no registry"
            if base == DEFAULT_BASE_IMAGE
            else f"`scripts/build_base_image.sh {base}` builds a Debian + Python one under that "
            f"name, or `docker pull {base}` where a registry is reachable"
        )
        raise AmlError(
            f"Environment {spec['name']!r} runs in docker from the base image {base!r}, which "
            f"this engine does not have: {how}."
        )


def is_ready(spec: dict[str, Any]) -> bool:
    """Whether a run can start with no image build (False when no engine answers)."""
    try:
        return _built(client(timeout=10), spec) is not None
    except AmlError:
        return False


def resolve(ws_folder: Path, spec: dict[str, Any], log_path: Path) -> str:
    """The Python to start inside the environment's image, building the image first if need be."""
    if spec["docker"].get("base_dockerfile"):
        with open(log_path, "a") as log:
            _dockerfile_base(client(), spec, log)
    if spec["python"]["user_managed_dependencies"]:
        return str(spec["python"]["interpreter_path"] or "python")
    engine = client()
    image = _built(engine, spec)
    if image is not None:
        return str(image.labels["aml.python"])
    root = envs_root(ws_folder)
    root.mkdir(parents=True, exist_ok=True)
    # The same lock as a venv build: concurrent runs of a new environment build it once.
    with open(root / f"{spec['hash']}.docker.lock", "w") as lock, open(log_path, "a") as log:
        if not try_lock(lock):
            log.write(f"Waiting for another build of environment {spec['name']!r}...\n")
            log.flush()
            fcntl.flock(lock, fcntl.LOCK_EX)
        image = _built(engine, spec)
        if image is not None:
            log.write("Built by another run meanwhile; reusing it.\n")
            return str(image.labels["aml.python"])
        return _build(engine, spec, log)


def _build(engine: Any, spec: dict[str, Any], log: Any) -> str:

    start = time.monotonic()
    base, tag = base_image(spec), image_name(spec)
    log.write(f"Building image {tag} of environment {spec['name']!r} from {base}\n")
    log.flush()
    python = _probe(engine, spec, base)
    log.write(
        f"The base image has Python {'.'.join(map(str, python['version']))} "
        f"({python['executable']}), packages go to {python['site']}\n"
    )
    with tempfile.TemporaryDirectory(prefix="aml-image-") as tmp, tempfile.TemporaryFile() as ctx:
        target = Path(tmp) / "site"
        requirements = pip_requirements(spec, Path(tmp) / "requirements")
        if requirements:
            (Path(tmp) / "requirements.txt").write_text("\n".join(requirements) + "\n")
            version = "{}.{}".format(*python["version"])
            run_uv(
                [
                    "pip",
                    "install",
                    "--target",
                    str(target),
                    "--python-version",
                    version,
                    "--python-platform",
                    _platform(python),
                    "-r",
                    str(Path(tmp) / "requirements.txt"),
                ],
                log,
                spec,
            )
        _write_context(ctx, spec, python, target)
        ctx.seek(0)
        error = None
        for chunk in engine.api.build(
            fileobj=ctx,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            network_mode="none",
            decode=True,
        ):
            if "stream" in chunk:
                log.write(chunk["stream"])
                log.flush()
            error = chunk.get("error") or error
    if error:
        raise AmlError(f"Building the image of environment {spec['name']!r} failed: {error}")
    log.write(f"Image {tag} ready in {time.monotonic() - start:.1f} s\n")
    log.flush()
    return str(python["executable"])


def _dockerfile_base(engine: Any, spec: dict[str, Any], log: Any) -> None:
    """Build the base image of a from_dockerfile environment, once per Dockerfile content."""
    tag = base_image(spec)
    if _find(engine, tag) is not None:
        return
    log.write(f"Building base image {tag} of environment {spec['name']!r} from its Dockerfile\n")
    log.flush()
    error = None
    for chunk in engine.api.build(
        fileobj=io.BytesIO(spec["docker"]["base_dockerfile"].encode()),
        tag=tag,
        rm=True,
        forcerm=True,
        decode=True,
    ):
        if "stream" in chunk:
            log.write(chunk["stream"])
            log.flush()
        error = chunk.get("error") or error
    if error:
        raise AmlError(
            f"Building the Dockerfile of environment {spec['name']!r} failed: {error} "
            "(its whole output is in user_logs/environment_build.txt)."
        )


def _probe(engine: Any, spec: dict[str, Any], base: str) -> dict[str, Any]:
    """What Python the base image has (version, site-packages, libc), from a throwaway container."""
    import docker

    try:
        out = engine.containers.run(
            base, ["python3", "-c", _PROBE], network_mode="none", remove=True, stderr=True
        )
        python: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (docker.errors.DockerException, ValueError, IndexError) as exc:
        raise AmlError(
            f"The base image {base!r} of environment {spec['name']!r} has no working python3 "
            f"({_short(exc)}); use an image with Python >= 3.10."
        ) from None
    have = tuple(python["version"])
    if have < MIN_PYTHON:
        raise AmlError(
            f"The base image {base!r} has Python {'.'.join(map(str, have))}; runs need >= 3.10."
        )
    wanted = spec["python"]["conda_dependencies"].get("python")
    if wanted and re.fullmatch(r"\d+(\.\d+)*(\.\*)?", wanted):
        parts = wanted.removesuffix(".*").split(".")
        if [str(v) for v in have[: len(parts)]] != parts:
            raise AmlError(
                f"Environment {spec['name']!r} asks for Python {wanted}, but its base image "
                f"{base!r} has {'.'.join(map(str, have))}: change the python= line or "
                "env.docker.base_image."
            )
    return python


def _platform(python: dict[str, Any]) -> str:
    """uv's name for the image's platform: manylinux_X_Y of its glibc (musl: musllinux)."""
    machine = python["machine"] or "x86_64"
    libc, version = python["libc"]
    if libc != "glibc" or not version:
        return f"{machine}-unknown-linux-musl"
    major, minor = (int(p) for p in version.split(".")[:2])
    # The range uv knows (2.17 .. 2.40): an older or newer glibc takes the nearest one.
    minor = min(max(minor, 17), 40) if major == 2 else 17
    return f"{machine}-manylinux_2_{minor}"


def _write_context(ctx: Any, spec: dict[str, Any], python: dict[str, Any], site: Path) -> None:
    """The build context: a Dockerfile with one COPY of a tree laid out as the image's root.

    Its labels say what the image is; ``aml.python`` is the interpreter runs start."""
    labels = {
        "aml.environment": spec["name"],
        "aml.hash": spec["hash"],
        "aml.base_image": base_image(spec),
        "aml.python": python["executable"],
    }
    dockerfile = f"FROM {base_image(spec)}\nCOPY root/ /\nLABEL " + " ".join(
        f"{k}={json.dumps(v)}" for k, v in labels.items()
    )
    with tarfile.open(fileobj=ctx, mode="w") as tar:
        _add_bytes(tar, "Dockerfile", dockerfile.encode())
        _add_bytes(tar, "root" + SPEC_IN_IMAGE, json.dumps(spec, indent=2, sort_keys=True).encode())
        if not site.is_dir():
            return
        for path in sorted(site.iterdir()):
            if path.name == "bin":  # console scripts: on PATH, with the image's Python
                for script in sorted(path.iterdir()):
                    _add_script(tar, script, python["executable"])
            else:
                tar.add(path, arcname=f"root{python['site']}/{path.name}", filter=_root_owned)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, int(time.time())
    tar.addfile(info, io.BytesIO(data))


def _add_script(tar: tarfile.TarFile, script: Path, python: str) -> None:
    data = script.read_bytes()
    if data.startswith(b"#!"):  # uv wrote the host's interpreter there
        data = f"#!{python}".encode() + data[data.index(b"\n") :]
    _add_bytes(tar, f"root/usr/local/bin/{script.name}", data, mode=0o755)


def _root_owned(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info

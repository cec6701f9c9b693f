"""Turning an environment spec into a Python interpreter for a run.

User-managed: the named interpreter, as it is (v1's default ``python``: the submitting
Python, never whichever ``python`` comes first on PATH). Managed: a virtualenv built with
``uv`` once per content hash under ``<workspace>/envs/<hash>/`` and reused by every later run
(resolving a built one is a ``stat``); with ``docker.enabled``, an image per content hash
(``dockerenv.py``). A failed build says what uv said failed (``failure_message``).
Builds take an exclusive lock, so concurrent submits of the same new environment build it once;
a build writes its ``.aml-ready`` marker last, so one that was killed half-way is never taken
for ready, and is redone.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from ..errors import AmlError
from ..paths import PACKAGE_DIR
from .cache import envs_root, try_lock
from .requirements import pip_requirements
from .uv import run as _uv
from .uv import uv_command
from .uv import uv_env as _uv_env

READY = ".aml-ready"
#: What a run's script imports aml_jupyter from inside a built environment: a folder holding
#: only a link to the package, never the submitter's whole site-packages.
PACKAGE_LINK = "_aml_package"


def check(ws_folder: Path, spec: dict[str, Any]) -> None:
    """What can be known before a run starts, checked at submit: a clear error, and no run.

    A built environment needs no check (the fast path of every later run).
    """
    if spec["docker"]["enabled"]:
        from . import docker_image as dockerenv

        dockerenv.check(spec)
        return
    if spec["python"]["user_managed_dependencies"]:
        interpreter(spec)
        return
    if is_ready(ws_folder, spec):
        return
    uv_command()
    base_python(spec)


def interpreter(spec: dict[str, Any]) -> str:
    """The user-managed interpreter, as a full path.

    v1's default ``python`` is this Python (a run's supervisor is started with the submitting
    one): a ``python`` first on PATH may be another Python than the kernel's. Another bare
    name is looked up on PATH.
    """
    path = spec["python"]["interpreter_path"] or "python"
    if path == "python":
        return sys.executable
    found = (
        shutil.which(path) if os.sep not in path else (path if os.access(path, os.X_OK) else None)
    )
    if found is None:
        raise AmlError(
            f"Environment {spec['name']!r} is user-managed with interpreter_path {path!r}, "
            "which is not an executable here. Give the full path of the Python to use."
        )
    return found


def base_python(spec: dict[str, Any]) -> str:
    """The Python to build from: the requested version found on this machine, or this one."""
    wanted = spec["python"]["conda_dependencies"].get("python")
    if not wanted:
        return getattr(sys, "_base_executable", sys.executable)
    result = subprocess.run(
        [*uv_command(), "python", "find", "--system", wanted],
        capture_output=True,
        text=True,
        env=_uv_env(),
        check=False,
    )
    if result.returncode == 0 and result.stdout.strip():
        return result.stdout.strip().splitlines()[-1]
    listing = subprocess.run(
        [*uv_command(), "python", "list", "--only-installed", "--output-format", "json"],
        capture_output=True,
        text=True,
        env=_uv_env(),
        check=False,
    )
    try:
        have = sorted({p["version"] for p in json.loads(listing.stdout)})
    except (ValueError, KeyError, TypeError):
        have = []
    raise AmlError(
        f"Environment {spec['name']!r} asks for Python {wanted}, which this machine does not "
        f"have (found: {', '.join(have) or 'none'}). Install it, or change the python= line "
        "of the environment."
    )


def interpreter_line(spec: dict[str, Any] | None, python: str) -> str:
    """The driver log's line that says which Python a run uses:
    ``[aml] Python: <path> (<version>)`` (in a docker environment, also its image)."""
    if spec is not None and spec["docker"]["enabled"]:
        from . import docker_image as dockerenv

        return f"[aml] Python: {python} (in image {dockerenv.image_name(spec)})"
    return f"[aml] Python: {python} ({python_version(python)})"


def python_version(python: str) -> str:
    """``3.11.7``: this Python's, a virtualenv's (its ``pyvenv.cfg``), else asked of it."""
    if python == sys.executable:
        return platform.python_version()
    cfg = Path(python).parent.parent / "pyvenv.cfg"
    try:
        for line in cfg.read_text().splitlines():
            key, _, value = line.partition("=")
            if key.strip() in ("version_info", "version") and value.strip():
                return value.strip()
    except OSError:
        pass
    try:
        asked = subprocess.run(
            [python, "-c", "import platform; print(platform.python_version())"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "version unknown"
    return asked.stdout.strip() if asked.returncode == 0 else "version unknown"


def package_link(ws_folder: Path) -> Path:
    """A folder with only a link to this aml_jupyter package, for a built env's PYTHONPATH."""
    folder = envs_root(ws_folder) / PACKAGE_LINK
    link = folder / "aml_jupyter"
    target = PACKAGE_DIR
    if not (link.is_symlink() and link.resolve() == target):
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".link-{os.getpid()}"
        tmp.unlink(missing_ok=True)
        tmp.symlink_to(target, target_is_directory=True)
        os.replace(tmp, link)
    return folder


def is_ready(ws_folder: Path, spec: dict[str, Any]) -> bool:
    """Whether a run of this environment can start with no build."""
    if spec["docker"]["enabled"]:
        from . import docker_image as dockerenv

        return dockerenv.is_ready(spec)
    return bool(
        spec["python"]["user_managed_dependencies"]
        or (envs_root(ws_folder) / spec["hash"] / READY).exists()
    )


def resolve(ws_folder: Path, spec: dict[str, Any], log_path: Path, echo: Any = None) -> str:
    """The Python executable for a run of this environment, built first when need be (in a
    docker environment: the Python inside its image). A build's output goes to ``log_path``
    and, line by line as it comes, to ``echo`` too (a run's driver log), each line marked."""
    if spec["docker"]["enabled"]:
        from . import docker_image as dockerenv

        return dockerenv.resolve(ws_folder, spec, log_path)
    if spec["python"]["user_managed_dependencies"]:
        return interpreter(spec)
    folder = envs_root(ws_folder) / spec["hash"]
    python = folder / "bin" / "python"
    if (folder / READY).exists():
        return str(python)
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f"{spec['hash']}.lock", "w") as lock, open(log_path, "a") as file:
        log = file if echo is None else _Echoed(file, echo)
        if not try_lock(lock):
            log.write(f"Waiting for another build of environment {spec['name']!r}...\n")
            log.flush()
            fcntl.flock(lock, fcntl.LOCK_EX)
        if (folder / READY).exists():  # the other build finished it
            log.write("Built by another run meanwhile; reusing it.\n")
            return str(python)
        _build(folder, spec, log)
    return str(python)


class _Echoed:
    """A build log that also goes, one marked line at a time, to another text stream."""

    def __init__(self, log: Any, echo: Any) -> None:
        self.log, self.echo, self.partial = log, echo, ""

    def write(self, text: str) -> int:
        self.log.write(text)
        *lines, self.partial = (self.partial + text).split("\n")
        for line in lines:
            if line.strip():
                self.echo.write(f"[aml]   {line.rstrip()}\n")
        return len(text)

    def flush(self) -> None:
        self.log.flush()
        self.echo.flush()


def _build(folder: Path, spec: dict[str, Any], log: Any) -> None:
    from .requirements import main_file

    start = time.monotonic()
    if folder.exists():  # a build that was killed half-way: start over
        shutil.rmtree(folder)
    base = base_python(spec)
    log.write(f"Building environment {spec['name']!r} ({spec['hash']}) with uv from {base}\n")
    log.flush()
    _uv(["venv", "--quiet", "--python", base, str(folder)], log, spec)
    python = folder / "bin" / "python"
    # A kept requirements file's copies (when its originals changed) stay with the build.
    requirements = pip_requirements(spec, folder / "requirements")
    if requirements:
        req_file = folder / "requirements.txt"
        req_file.write_text("\n".join(requirements) + "\n")
        kept = spec["python"]["conda_dependencies"].get("requirements")
        # uv reads -e . and ./pkg relative to where it runs: the kept file's folder.
        cwd = main_file(kept, folder / "requirements").parent if kept else None
        _uv(
            ["pip", "install", "--python", str(python), "-r", str(req_file)],
            log,
            spec,
            cwd=cwd,
            python_version=python_version(str(python)),
        )
    (folder / READY).write_text(json.dumps(spec, indent=2, sort_keys=True))
    log.write(f"Environment ready in {time.monotonic() - start:.1f} s: {folder}\n")
    log.flush()

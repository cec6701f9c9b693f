"""How to call uv, the installer every environment build uses."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..errors import AmlError


def uv_command() -> list[str]:
    """uv next to this interpreter, on PATH, or as ``python -m uv``."""
    beside = Path(sys.executable).with_name("uv")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("uv")
    if found:
        return [found]
    try:
        import uv  # noqa: F401
    except ImportError:
        raise AmlError(
            "Building an environment needs uv: `pip install uv` (or use "
            "env.python.user_managed_dependencies = True with an interpreter_path)."
        ) from None
    return [sys.executable, "-m", "uv"]


def uv_env() -> dict[str, str]:
    # Only PyPI is reachable from many workstations: never try to download a Python. With no
    # COLUMNS, uv writes each message on one line (a failure message quotes its lines).
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never", "VIRTUAL_ENV": ""}
    env.pop("COLUMNS", None)
    return env


def run(
    args: list[str],
    log: Any,
    spec: dict[str, Any],
    cwd: Path | None = None,
    python_version: str | None = None,
) -> None:
    """Run ``uv args``, its output into ``log`` line by line as uv writes it (whoever follows
    the build sees it go); a failure raises what actually failed."""
    log.write("$ uv " + " ".join(args) + "\n")
    log.flush()
    lines: list[str] = []
    with subprocess.Popen(
        [*uv_command(), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        env=uv_env(),
        cwd=cwd,
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            log.flush()
    if proc.returncode != 0:
        raise AmlError(failure_message("".join(lines), spec, python_version))


_BUILD_FAILED = re.compile(r"Failed to (?:download and )?build `([^`]+)`")
_USING_PYTHON = re.compile(r"Using C?Python (\d+\.\d+)")
# uv wraps its messages: any space may be a line break.
_NOT_ON_PYPI = re.compile(
    r"Because\s+([A-Za-z0-9_.\-]+)\s+was\s+not\s+found\s+in\s+the\s+package\s+registry"
)


def failure_message(output: str, spec: dict[str, Any], python_version: str | None = None) -> str:
    """What failed, from uv's own output: a package it had to build from source (no wheel for
    this Python) and the build's last lines; a conda package that is not on PyPI; else the
    last lines uv printed."""
    name = spec["name"]
    lines = [line.strip() for line in output.strip().splitlines()]
    lines = [line for line in lines if line and line != "[stderr]" and set(line) - set("^~ ")]
    built = _BUILD_FAILED.search(output)
    if built and " @ " in built.group(1):  # a local folder or URL: always built from source
        return f"Building environment {name!r} failed: building {built.group(1)} failed:\n" + (
            "\n".join(_reason(lines))
        )
    if built:
        using = _USING_PYTHON.search(output)
        version = ".".join((python_version or (using.group(1) if using else "")).split(".")[:2])
        python = f"Python {version}" if version else "this Python"
        return (
            f"Building environment {name!r} failed: no wheel of {built.group(1)} for {python}; "
            f"building it from source failed:\n" + "\n".join(_reason(lines)) + "\n"
            f"Pin a version of it that has a wheel for {python} (its files on PyPI say which), "
            "or build the environment with a Python it has wheels for (python=)."
        )
    tail = "\n".join(lines[-6:])
    missing = _NOT_ON_PYPI.search(output)
    conda = spec["python"]["conda_dependencies"].get("conda") or []
    if missing and _normal(missing.group(1)) in {_conda_name(c) for c in conda}:
        return (
            f"Building environment {name!r} failed:\n{tail}\nThe conda package "
            f"{missing.group(1)} is not on PyPI (conda packages are tried from PyPI): conda-only "
            "packages cannot be installed without conda; move them under `pip:` with their "
            "PyPI names, or use user_managed_dependencies=True with a conda environment's "
            "interpreter_path."
        )
    return f"Building environment {name!r} failed:\n{tail}"


def _reason(lines: list[str]) -> list[str]:
    """A failed build's last lines, uv's generic hints left out."""
    return [line for line in lines if not line.startswith("hint:")][-3:]


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _conda_name(entry: str) -> str:
    return _normal(re.split(r"[=<>!~\s\[;]", entry.split("::")[-1].strip(), maxsplit=1)[0])

"""Finding an existing conda environment's Python (``Environment.from_existing_conda_environment``).

Asks ``conda`` (or ``mamba``/``micromamba``, whichever is on PATH or in ``$CONDA_EXE``) for its
environments; the one named is used as it is, never changed. Without conda the error says
what works instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from ..errors import AmlError

_TOOLS = ("conda", "mamba", "micromamba")


def conda_tool() -> str | None:
    """The conda executable to ask, or None."""
    exe = os.environ.get("CONDA_EXE") or os.environ.get("MAMBA_EXE")
    if exe and os.access(exe, os.X_OK):
        return exe
    for tool in _TOOLS:
        found = shutil.which(tool)
        if found:
            return found
    return None


def environment_prefixes(tool: str) -> list[Path]:
    """Every environment ``tool`` knows (``conda env list --json``)."""
    try:
        done = subprocess.run(
            [tool, "env", "list", "--json"], capture_output=True, text=True, timeout=60
        )
        prefixes = json.loads(done.stdout or "{}").get("envs", [])
    except (OSError, subprocess.TimeoutExpired, json.JSONDecodeError, AttributeError) as exc:
        raise AmlError(f"Asking {tool} for its environments failed: {exc}") from None
    return [Path(p) for p in prefixes if isinstance(p, str)]


def conda_python(name: str) -> str:
    """The Python of conda environment ``name`` (a name, or a prefix path)."""
    if not isinstance(name, str) or not name.strip():
        raise AmlError("from_existing_conda_environment needs a conda environment's name.")
    tool = conda_tool()
    if tool is None:
        raise AmlError(
            f"conda was not found (no conda, mamba or micromamba on PATH, no $CONDA_EXE), so "
            f"the conda environment {name!r} cannot be used. Install conda, or use an "
            "environment built here: Environment.from_conda_specification(name, "
            "'environment.yml') (its pip part and Python version are installed with uv), or "
            "Environment.from_pip_requirements(name, 'requirements.txt'); an interpreter you "
            "manage: env.python.user_managed_dependencies = True, env.python.interpreter_path "
            "= '/path/to/python'."
        )
    prefixes = environment_prefixes(tool)
    wanted = Path(name).expanduser()
    for prefix in prefixes:
        if prefix.name == name or (wanted.is_absolute() and prefix == wanted):
            python = prefix / "bin" / "python"
            if not python.exists():
                python = prefix / "python.exe"
            if python.exists():
                return str(python)
            raise AmlError(f"Conda environment {name!r} ({prefix}) has no Python installed.")
    known = ", ".join(p.name for p in prefixes) or "none"
    raise AmlError(
        f"No conda environment {name!r} (conda at {tool} knows: {known}). Create it with "
        f"`conda create -n {name} python`, or give one of those names."
    )

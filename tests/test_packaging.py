"""The wheel and the sdist install with no node on PATH, each bringing the AML sidebar
(labextension), the REST API (server extension), the "Python 3 (aml)" kernel and ``aml``.

Builds both once (``uv build``), then installs each into a fresh venv. About a minute with a
warm uv cache; select with ``-m packaging``, leave out with ``-m "not packaging"``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from aml_jupyter.version import __version__

pytestmark = [pytest.mark.packaging, pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parent.parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def find_uv() -> str | None:
    """The uv binary: the Python package's (a dependency of aml-jupyter), else PATH's."""
    try:
        import uv

        return uv.find_uv_bin()
    except (ImportError, FileNotFoundError):
        return shutil.which("uv")


class Scratch(NamedTuple):
    """A temp folder for this module: artifacts, venvs, Jupyter's own dirs."""

    root: Path
    uv: str
    no_node_path: str  # a PATH with uv alone: no node, npm or jlpm

    def env(self, path: str | None = None) -> dict[str, str]:
        """Our environment minus venvs and Jupyter settings; Jupyter's per-user dirs are ours."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("JUPYTER", "VIRTUAL_ENV", "PYTHON", "CONDA", "IPYTHON"))
        }
        env["PATH"] = path if path is not None else self.no_node_path
        for var, name in [
            ("JUPYTER_CONFIG_DIR", "config"),
            ("JUPYTER_DATA_DIR", "data"),
            ("JUPYTER_RUNTIME_DIR", "runtime"),
            ("IPYTHONDIR", "ipython"),
        ]:
            env[var] = str(self.root / "home" / name)
        env["UV_PYTHON_DOWNLOADS"] = "never"
        return env


def run(args: list[str], env: dict[str, str], cwd: Path, stdout_only: bool = False) -> str:
    """Run a command; fail the test with its output unless it exits 0. Returns its output
    (stdout and stderr, as Jupyter's lists print to either), uncoloured."""
    result = subprocess.run(
        args, env=env, cwd=cwd, capture_output=True, text=True, timeout=600, check=False
    )
    output = ANSI.sub("", result.stdout + result.stderr)
    assert result.returncode == 0, f"{' '.join(args)} exited {result.returncode}:\n{output}"
    return result.stdout if stdout_only else output


@pytest.fixture(scope="module")
def scratch() -> Iterator[Scratch]:
    uv = find_uv()
    if uv is None:
        pytest.skip("uv is missing (pip install uv): it builds and installs the packages here")
    with tempfile.TemporaryDirectory(prefix="aml-packaging-") as tmp:
        root = Path(tmp)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "uv").symlink_to(uv)
        yield Scratch(root, str(bin_dir / "uv"), str(bin_dir))


@pytest.fixture(scope="module")
def dists(scratch: Scratch) -> dict[str, Path]:
    """The sdist, built from this checkout (node may build the sidebar if it is not built yet),
    and the wheel, built from that sdist with no node on PATH."""
    out = scratch.root / "dist"
    py = sys.executable
    run(
        [scratch.uv, "build", "--sdist", "--out-dir", str(out), "--python", py, str(ROOT)],
        scratch.env(os.environ["PATH"]),
        scratch.root,
    )
    (sdist,) = out.glob("*.tar.gz")
    run(
        [scratch.uv, "build", "--wheel", "--out-dir", str(out), "--python", py, str(sdist)],
        scratch.env(),
        scratch.root,
    )
    (wheel,) = out.glob("*.whl")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module", params=["wheel", "sdist"])
def venv(
    request: pytest.FixtureRequest, scratch: Scratch, dists: dict[str, Path]
) -> Iterator[Path]:
    """A fresh venv with the wheel or the sdist (built there with no node) and JupyterLab."""
    venv = scratch.root / f"venv-{request.param}"
    env = scratch.env()
    run([scratch.uv, "venv", "--quiet", "--python", sys.executable, str(venv)], env, scratch.root)
    install = [scratch.uv, "pip", "install", "--quiet", "--python", str(venv / "bin" / "python")]
    # A new build of our sdist, not one uv cached from an earlier session.
    install += ["--refresh-package", "aml-jupyter", str(dists[request.param]), "jupyterlab"]
    run(install, env, scratch.root)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


def in_venv(scratch: Scratch, venv: Path, *args: str, stdout_only: bool = False) -> str:
    """Run one of the venv's commands, with the venv's bin (and no node) on PATH."""
    path = f"{venv / 'bin'}{os.pathsep}{scratch.no_node_path}"
    command = [str(venv / "bin" / args[0]), *args[1:]]
    return run(command, scratch.env(path), scratch.root, stdout_only)


def test_the_sdist_carries_the_built_sidebar(dists: dict[str, Path]) -> None:
    with tarfile.open(dists["sdist"]) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    built = "aml_jupyter/labextension/"
    assert f"{built}package.json" in names
    assert f"{built}static/style.js" in names
    assert any(re.fullmatch(rf"{built}static/remoteEntry\.\w+\.js", name) for name in names)
    assert "labextension/src/index.ts" in names  # and its sources, to rebuild it
    assert not any(name.startswith("labextension/node_modules/") for name in names)


def test_the_sidebar_is_enabled(scratch: Scratch, venv: Path) -> None:
    output = in_venv(scratch, venv, "jupyter", "labextension", "list")
    assert re.search(rf"aml-jupyter v{re.escape(__version__)} enabled OK", output), output
    assert str(venv / "share" / "jupyter" / "labextensions") in output


def test_the_rest_api_is_enabled(scratch: Scratch, venv: Path) -> None:
    output = in_venv(scratch, venv, "jupyter", "server", "extension", "list")
    assert re.search(r"aml_jupyter enabled", output), output
    assert re.search(rf"aml_jupyter {re.escape(__version__)} OK", output), output


KERNEL_CHECK = """
from jupyter_client.manager import start_new_kernel

km, kc = start_new_kernel(kernel_name="aml", startup_timeout=120)
try:
    shown = []
    kc.execute_interactive(
        "print(sorted(m for m in get_ipython().magics_manager.lsmagic()['line']"
        " if m.startswith('aml_')))",
        output_hook=lambda msg: shown.append(msg["content"].get("text", "")),
        timeout=120,
    )
    print("magics:", "".join(shown))
finally:
    kc.stop_channels()
    km.shutdown_kernel(now=True)
"""


def test_the_aml_kernel_is_installed_and_loads_the_magics(scratch: Scratch, venv: Path) -> None:
    specs = json.loads(
        in_venv(scratch, venv, "jupyter", "kernelspec", "list", "--json", stdout_only=True)
    )
    aml = specs["kernelspecs"]["aml"]
    assert aml["spec"]["display_name"] == "Python 3 (aml)"
    assert Path(aml["resource_dir"]) == venv / "share" / "jupyter" / "kernels" / "aml"
    output = in_venv(scratch, venv, "python", "-c", KERNEL_CHECK)
    assert "'aml_workspace'" in output and "'aml_submit'" in output, output


def test_the_aml_command_runs(scratch: Scratch, venv: Path) -> None:
    assert "usage: aml" in in_venv(scratch, venv, "aml", "--help")
    assert __version__ in in_venv(scratch, venv, "aml", "--version")

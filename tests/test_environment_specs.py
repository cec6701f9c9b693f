"""Environment specs read by uv, not by us: requirements files with their includes, what a
failed build says, and the Python a user-managed run gets. Real uv builds from PyPI."""

from __future__ import annotations

import json
import os
import platform
import re
import sys
from pathlib import Path

import pytest
from conftest import write

from aml_jupyter import AmlError, Environment, Experiment, ScriptRunConfig
from aml_jupyter.environments import build as envbuild
from aml_jupyter.environments import requirements

#: What a built environment's own site-packages hold, by normalized name.
INSTALLED = """
import importlib.metadata, json, re, sysconfig
site = sysconfig.get_paths()["purelib"]
found = {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version
         for d in importlib.metadata.distributions(path=[site])}
import aml_test_app
print(json.dumps({"installed": found, "app": aml_test_app.__file__}))
"""

#: Every kind of line a hand parser got wrong: an option, -r, -c, a continuation with a hash,
#: markers, comments, and an editable of the file's own folder.
REQUIREMENTS = """\
# the project's requirements
--only-binary :all:
-r base.txt
-c constraints.txt
tomli==2.0.1 \\
    --hash=sha256:939de3e7a6161af0c887ef91b7d41a53e7c5a1ca976325f429cb46ea9bc30ecc
typing-extensions==4.12.2 ; python_version >= "3.8"  # needed here
colorama==0.4.6 ; python_version < "3"
-e .
"""


def app_folder(root: Path) -> Path:
    """A project with a requirements.txt (and what it includes) beside its pyproject.toml."""
    app = root / "app"
    write(app, "requirements.txt", REQUIREMENTS)
    write(app, "base.txt", "# shared by every requirements file\nsix\n")
    write(app, "constraints.txt", "six==1.16.0  # an older six than the latest\n")
    write(
        app,
        "pyproject.toml",
        """
        [project]
        name = "aml-test-app"
        version = "0.1"
        [tool.setuptools]
        packages = ["aml_test_app"]
        [build-system]
        requires = ["setuptools>=64"]
        build-backend = "setuptools.build_meta"
        """,
    )
    write(app, "aml_test_app/__init__.py", "")
    return app


def test_a_requirements_file_builds_exactly_what_uv_installs_from_it(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    app = app_folder(tmp_path)
    write(project, "installed.py", INSTALLED)
    env = Environment.from_pip_requirements("reqs", app / "requirements.txt")
    deps = env.python.conda_dependencies
    assert deps.pip_packages == []  # no line became a package of its own
    assert sorted(deps._requirements["files"]) == [
        "base.txt",
        "constraints.txt",
        "requirements.txt",
    ]
    run = exp.submit(ScriptRunConfig(project, "installed.py", environment=env))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run.read_log()
    out = json.loads(run.read_log().strip().splitlines()[-1])
    # six pinned by the constraints file, colorama left out by its marker, the app editable.
    assert out["installed"] == {
        "six": "1.16.0",
        "tomli": "2.0.1",
        "typing-extensions": "4.12.2",
        "aml-test-app": "0.1",
    }
    assert Path(out["app"]).resolve() == (app / "aml_test_app" / "__init__.py").resolve()
    kept = run.get_environment().python.conda_dependencies._requirements
    assert kept["files"]["base.txt"] == (app / "base.txt").read_text()
    python = exp.workspace.folder / "envs" / env.hash / "bin" / "python"
    line = envbuild.interpreter_line(env._spec(), str(python))
    assert line == f"[aml] Python: {python} ({platform.python_version()})"


def test_the_kept_files_build_when_the_originals_are_gone(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    write(project, "six_version.py", "import six; print(six.__version__)\n")
    main = write(tmp_path / "reqs", "requirements.txt", "-r common/base.txt\n")
    base = write(tmp_path / "reqs", "common/base.txt", "six==1.16.0\n")
    env = Environment.from_pip_requirements("gone", main)
    env.register(exp.workspace)
    base.unlink()
    main.unlink()
    run = exp.submit(ScriptRunConfig(project, "six_version.py", environment="gone"))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run.read_log()
    assert run.read_log().strip().splitlines()[-1] == "1.16.0"
    copies = exp.workspace.folder / "envs" / env.hash / "requirements"
    assert (copies / "common" / "base.txt").read_text() == "six==1.16.0\n"


def test_the_hash_follows_the_included_files_and_missing_ones_are_named(tmp_path: Path) -> None:
    main = write(tmp_path, "req/requirements.txt", "-r ../shared/base.txt\nsix\n")
    base = write(tmp_path, "shared/base.txt", "--requirement=pins.txt\n")
    pins = write(tmp_path, "shared/pins.txt", "tomli==2.0.1\n")
    first = Environment.from_pip_requirements("h", main)
    kept = first.python.conda_dependencies._requirements
    assert kept["main"] == "req/requirements.txt"
    assert sorted(kept["files"]) == ["req/requirements.txt", "shared/base.txt", "shared/pins.txt"]
    assert Environment.from_pip_requirements("h", main).hash == first.hash
    pins.write_text("tomli==2.0.2\n")  # two files away from the one given
    assert Environment.from_pip_requirements("h", main).hash != first.hash

    pins.unlink()
    with pytest.raises(AmlError, match=r"base\.txt' line 1 includes 'pins\.txt', which is not a"):
        Environment.from_pip_requirements("h", main)
    base.unlink()
    with pytest.raises(AmlError, match=r"includes '\.\./shared/base\.txt', which is not a file"):
        Environment.from_pip_requirements("h", main)
    with pytest.raises(AmlError, match=r"'nope\.txt' is not a file: give the path of a requ"):
        Environment.from_pip_requirements("h", "nope.txt")


def test_only_include_lines_are_read_here() -> None:
    text = (
        "-r a.txt\n-rb.txt\n--requirement c.txt\n--constraint=d.txt\n"
        "six \\\n  -r not-an-include.txt\n"  # one continued line: a package's options
        "# -r commented.txt\n-c https://example.org/pins.txt\n-e .\n--index-url x\n-c e.txt # pins\n"
    )
    assert requirements.includes(text) == [
        (1, "a.txt"),
        (2, "b.txt"),
        (3, "c.txt"),
        (4, "d.txt"),
        (11, "e.txt"),
    ]


def test_an_old_conda_pin_with_no_wheel_says_what_failed(exp: Experiment, project: Path) -> None:
    # numpy 1.16 is on PyPI, with no wheel for Python 3.11: uv builds its sdist, which fails.
    assert sys.version_info >= (3, 10), "numpy 1.16 has wheels for this Python"
    write(project, "noop.py", "print('never runs')\n")
    env = Environment("old-numpy")
    env.python.conda_dependencies.add_conda_package("numpy=1.16")
    run = exp.submit(ScriptRunConfig(project, "noop.py", environment=env))
    details = run.wait_for_completion(raise_on_error=False)
    assert details["status"] == "Failed"
    message = details["error"]["error"]["message"]
    python = f"Python {sys.version_info.major}.{sys.version_info.minor}"
    assert re.search(
        rf"no wheel of numpy==1\.16\.\d+ for {python}; building it from source", message
    )
    assert "conda-only" not in message
    log = Path(run.download_file("user_logs/environment_build.txt", str(project / "b.txt")))
    reason = message.split("building it from source failed:\n")[1].splitlines()[:-1]
    assert reason and all(line in log.read_text() for line in reason)  # uv's words, quoted


def test_a_local_project_that_fails_to_build_is_named_with_its_reason(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    broken = tmp_path / "broken"
    write(
        broken,
        "setup.py",
        """
        import sys
        from setuptools import setup
        if {"bdist_wheel", "editable_wheel"} & set(sys.argv):  # its metadata is fine
            raise SystemExit("aml test: broken on purpose")
        setup(name="aml-broken", version="0.1", py_modules=[])
        """,
    )
    write(broken, "requirements.txt", "-e .\n")
    write(project, "noop.py", "print('never runs')\n")
    env = Environment.from_pip_requirements("broken-local", broken / "requirements.txt")
    run = exp.submit(ScriptRunConfig(project, "noop.py", environment=env))
    message = run.wait_for_completion(raise_on_error=False)["error"]["error"]["message"]
    assert f"failed: building aml-broken @ file://{broken} failed:" in message
    assert "aml test: broken on purpose" in message
    assert "no wheel" not in message  # a local folder has none to find


def test_a_user_managed_default_python_is_the_kernels_not_the_first_on_path(
    exp: Experiment, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = write(tmp_path, "fakebin/python", "#!/bin/sh\necho 'not the kernel Python'\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    write(project, "which.py", "import sys; print(sys.executable)\n")
    env = Environment("kernel-python")
    env.python.user_managed_dependencies = True
    assert env.python.interpreter_path == "python"  # v1's default, left as it is
    run = exp.submit(ScriptRunConfig(project, "which.py", environment=env))
    assert run.wait_for_completion(raise_on_error=False)["status"] == "Completed", run.read_log()
    assert run.read_log().strip().splitlines()[-1] == sys.executable
    line = envbuild.interpreter_line(env._spec(), envbuild.interpreter(env._spec()))
    assert line == f"[aml] Python: {sys.executable} ({platform.python_version()})"
    assert line in run.read_log().splitlines()  # the driver log says which Python ran it


def test_a_cluster_gets_the_requirements_with_their_includes_inlined(tmp_path: Path) -> None:
    """Ray's nodes have none of this machine's files: -r files are inlined, -c left out."""
    from aml_jupyter.environments.requirements import flat_lines, read

    write(tmp_path, "base.txt", "six==1.16.0\n# a comment\n")
    write(tmp_path, "sub/more.txt", "tomli==2.0.1\n")
    write(tmp_path, "pins.txt", "six<2\n")
    write(tmp_path, "requirements.txt", "-r base.txt\n-c pins.txt\n-r sub/more.txt\nwheel\n")
    assert flat_lines(read(tmp_path / "requirements.txt")) == [
        "six==1.16.0",
        "tomli==2.0.1",
        "wheel",
    ]

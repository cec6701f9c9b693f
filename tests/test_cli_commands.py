"""The ``aml`` command itself: its help, mistyped commands, ``env register``, the snapshot limit's
message and ``kernel install`` (real subprocesses, as in ``tests/test_cli.py``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import aml_jupyter
from aml_jupyter.frontends.cli.main import main
from tests.test_cli import TIMEOUT, aml, aml_json, command, env, new_project, write


# the command itself ---------------------------------------------------------------------------
def test_version() -> None:
    result = subprocess.run(
        command("--version"), env=env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0
    assert result.stdout.strip() == f"aml {aml_jupyter.__version__}"


def test_importing_the_cli_is_light() -> None:
    code = (
        "import sys, aml_jupyter.frontends.cli.main; "
        "print(sorted(m for m in sys.modules if m.startswith('aml_jupyter') or m == 'pandas'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], env=env(), capture_output=True, text=True, timeout=TIMEOUT
    )
    assert result.returncode == 0, result.stderr
    # the CLI's own modules, their (docstring-only) parent packages and the version string
    assert result.stdout.strip() == str(
        [
            "aml_jupyter",
            "aml_jupyter.frontends",
            "aml_jupyter.frontends.cli",
            "aml_jupyter.frontends.cli.common",
            "aml_jupyter.frontends.cli.main",
            "aml_jupyter.version",
        ]
    )


def test_usage_errors_return_2_in_process(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([]) == 2
    assert "usage: aml" in capsys.readouterr().err
    assert main(["run"]) == 2
    assert "submit-script" in capsys.readouterr().err
    assert main(["run", "list", "--", "x"]) == 2
    assert "only `aml run submit-script`" in capsys.readouterr().err
    assert main(["run", "list", "--status", "nonsense"]) == 2
    assert "is not a run status" in capsys.readouterr().err
    assert main(["--help"]) == 0


def test_a_mistyped_command_suggests_the_nearest(tmp_path: Path) -> None:
    result = aml(tmp_path, "rnu", "list")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["aml: 'rnu' is not a command. Did you mean 'run'?"]
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["experimnet", "list"], "aml: 'experimnet' is not a command. Did you mean 'experiment'?"),
        (["run", "lsit"], "aml run: 'lsit' is not a command. Did you mean 'list'?"),
        (
            ["run", "submit", "x.py"],
            "aml run: 'submit' is not a command. Did you mean 'submit-script'?",
        ),
        (["env", "regster", "x"], "aml env: 'regster' is not a command. Did you mean 'register'?"),
        (["model", "lst"], "aml model: 'lst' is not a command. Did you mean 'list'?"),
    ],
)
def test_mistyped_subcommands_suggest_the_nearest(
    capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [said]


def test_a_word_like_no_command_lists_them(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["xyzzy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("aml: 'xyzzy' is not a command. The commands are: workspace, ")
    assert "`aml --help` says more" in err


def _commands(parser: Any) -> list[Any]:
    """Every group and command parser under ``parser``."""
    import argparse

    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += [sub, *_commands(sub)]
    return found


def test_help_says_what_each_command_does() -> None:
    from aml_jupyter.frontends.cli.main import build_parser

    parser = build_parser()
    top = parser.format_help()
    assert "aml workspace create" in top and "exit codes: 0 success; 1 " in top
    assert "no workspace" in top
    commands = _commands(parser)
    assert len(commands) > 30
    for sub in commands:
        text = sub.format_help()
        assert sub.description, f"`{sub.prog} --help` says only its usage"
        assert "::" not in text and "``" not in text and "Docstring" not in text, text
        for action in sub._actions:
            if not action.option_strings and action.nargs != "A...":
                assert action.help, f"{sub.prog}: {action.metavar} has no help"
    run_list = aml(Path.cwd(), "run", "list", "--help")
    assert "Runs, newest first, with metrics." in run_list.stdout.splitlines()


# environments ---------------------------------------------------------------------------------
def test_env_register_from_requirements_conda_or_image(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "requirements.txt", "numpy\n-r more.txt\n")
    write(tmp_path, "more.txt", "pandas\n")
    write(tmp_path, "environment.yml", "dependencies:\n  - python=3.11\n  - pip:\n    - rich\n")
    made = {}
    for name, source in (
        ("pip-env", ["-f", "requirements.txt"]),
        ("conda-env", ["--conda", "environment.yml"]),
        ("image-env", ["--image", "python:3.11-slim"]),
    ):
        result = aml(tmp_path, "env", "register", name, *source)
        assert result.returncode == 0, result.stderr
        made[name] = result.stdout.strip()
        assert f"registered environment {name}:1 from " in result.stderr
    assert made == {"pip-env": "pip-env:1", "conda-env": "conda-env:1", "image-env": "image-env:1"}
    again = aml(tmp_path, "env", "register", "pip-env", "-f", "requirements.txt")
    assert again.stdout.strip() == "pip-env:1"  # the same content keeps its version

    rows = {r["name"]: r for r in aml_json(tmp_path, "env", "list")}
    assert set(rows) == set(made)
    assert rows["image-env"]["kind"] == "docker"
    assert rows["conda-env"]["python"] == "3.11"
    assert rows["pip-env"]["packages"] == "requirements.txt"
    table = aml(tmp_path, "env", "list").stdout
    assert "image-env" in table and "conda-env" in table

    spec = json.loads(aml(tmp_path, "env", "show", "image-env").stdout)
    assert spec["docker"] == {"enabled": True, "base_image": "python:3.11-slim"}
    spec = json.loads(aml(tmp_path, "env", "show", "conda-env").stdout)
    assert spec["python"]["conda_dependencies"]["pip"] == ["rich"]
    spec = json.loads(aml(tmp_path, "env", "show", "pip-env:1").stdout)
    files = spec["python"]["conda_dependencies"]["requirements"]["files"]
    assert set(files) == {"requirements.txt", "more.txt"}


@pytest.mark.parametrize(
    ("source", "said"),
    [
        (["-f", "nope.txt"], "'nope.txt' is not a file"),
        (["-f", "req.txt"], "line 1 includes 'gone.txt', which is not a file"),
        (["--conda", "nope.yml"], "'nope.yml' is not a file"),
        (["--conda", "bad.yml"], "bad.yml is not valid YAML"),
        (["--conda", "req.txt"], "has no 'dependencies:' list"),
        (["--conda", "binary.yml"], "'binary.yml' is not a text file"),
        (["--image", " "], "--image needs an image name"),
    ],
)
def test_env_register_bad_input_is_a_message(tmp_path: Path, source: list[str], said: str) -> None:
    new_project(tmp_path)
    write(tmp_path, "req.txt", "-r gone.txt\n")
    write(tmp_path, "bad.yml", "dependencies: [\n")
    (tmp_path / "binary.yml").write_bytes(b"\xff\xfe\x00\x81")
    result = aml(tmp_path, "env", "register", "train", *source)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.startswith("aml: error: ")
    assert said in result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert aml_json(tmp_path, "env", "list") == []


def test_env_register_takes_exactly_one_source(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "requirements.txt", "numpy\n")
    none = aml(tmp_path, "env", "register", "train")
    assert none.returncode == 2
    assert "one of the arguments -f/--file --conda --image is required" in none.stderr
    both = aml(tmp_path, "env", "register", "train", "-f", "requirements.txt", "--image", "x")
    assert both.returncode == 2
    assert "not allowed with" in both.stderr
    assert aml_json(tmp_path, "env", "list") == []


# the snapshot limit ---------------------------------------------------------------------------
def test_snapshot_limit_message_sizes_read_as_people_write_them(tmp_path: Path) -> None:
    new_project(tmp_path)
    write(tmp_path, "train.py", "print(1)\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "small").mkdir()
    write(tmp_path, "data/huge.bin", "x" * 12_500)
    write(tmp_path, "small/a.txt", "x")
    result = aml(
        tmp_path, "run", "submit-script", "train.py", extra_env={"AML_SNAPSHOT_MAX_BYTES": "10000"}
    )
    assert result.returncode == 2, result.stdout + result.stderr
    [line] = result.stderr.splitlines()
    assert "has 3 files, 12.2 KiB: over the limit of 9.8 KiB." in line
    assert (
        "Largest: data/ (12.2 KiB, 1 file), train.py (9 bytes, 1 file), small/ (1 byte, 1 file)."
        in line
    )
    assert " MB" not in line and "1 files" not in line
    result = aml(
        tmp_path, "run", "submit-script", "train.py", extra_env={"AML_SNAPSHOT_MAX_FILES": "2"}
    )
    assert "has 3 files, 12.2 KiB: over the limit of 2 files." in result.stderr
    assert aml_json(tmp_path, "run", "list") == []


def test_the_readme_states_the_snapshot_limit_in_the_messages_units() -> None:
    from aml_jupyter.snapshot.snapshot import DEFAULT_MAX_BYTES, DEFAULT_MAX_FILES, _size

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"{_size(DEFAULT_MAX_BYTES)} / {DEFAULT_MAX_FILES} files unless raised" in readme
    assert _size(DEFAULT_MAX_BYTES) == "300 MiB"


def test_kernel_install_writes_a_kernelspec_that_loads_the_magics(tmp_path: Path) -> None:
    result = aml(tmp_path, "kernel", "install", "--prefix", str(tmp_path / "prefix"))
    assert result.returncode == 0, result.stderr
    spec = json.loads((tmp_path / "prefix/share/jupyter/kernels/aml/kernel.json").read_text())
    assert spec["display_name"] == "Python 3 (aml)"
    assert spec["argv"][0] == sys.executable and "--ext=aml_jupyter" in spec["argv"]

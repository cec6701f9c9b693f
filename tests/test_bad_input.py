"""Bad input gets a clear AmlError and leaves nothing half made."""

from __future__ import annotations

from pathlib import Path

import pytest

from aml_jupyter import AmlError, Experiment, ScriptRunConfig, Workspace
from tests.conftest import write


def runs_in(ws: Workspace) -> int:
    return ws.store.count_runs(include_children=True)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"script": "missing.py"}, "was not found"),
        ({"script": None}, "needs script="),
        ({"command": []}, "empty list"),
        ({"script": "ok.py", "max_run_duration_seconds": 0}, "positive number"),
    ],
)
def test_bad_configs_are_refused_before_any_run_exists(
    exp: Experiment, project: Path, kwargs: dict, message: str
) -> None:
    write(project, "ok.py", "print(1)")
    with pytest.raises(AmlError, match=message):
        exp.submit(ScriptRunConfig(project, **kwargs))
    assert runs_in(exp.workspace) == 0


def test_source_folder_that_is_not_a_folder(exp: Experiment, tmp_path: Path) -> None:
    file = write(tmp_path, "file.txt", "x")
    for source in (tmp_path / "nope", file):
        with pytest.raises(AmlError, match="not a folder"):
            exp.submit(ScriptRunConfig(source, "x.py"))
    assert runs_in(exp.workspace) == 0


def test_script_outside_the_source_folder(exp: Experiment, project: Path, tmp_path: Path) -> None:
    outside = write(tmp_path, "outside.py", "print(1)")
    with pytest.raises(AmlError, match="outside source_directory"):
        exp.submit(ScriptRunConfig(project, str(outside)))


@pytest.mark.parametrize("name", ["bad name", "-leading", "", "x" * 256, "a/b", "ü"])
def test_illegal_experiment_names(ws: Workspace, name: str) -> None:
    with pytest.raises(AmlError, match="not allowed"):
        Experiment(ws, name)
    assert ws.experiments == {}


def test_submit_takes_only_a_script_run_config(exp: Experiment) -> None:
    with pytest.raises(AmlError, match="ScriptRunConfig"):
        exp.submit("train.py")  # type: ignore[arg-type]

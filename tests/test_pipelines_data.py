"""Data into and out of pipeline steps beyond PipelineData: output datasets passed on with
``as_input()``, datasets as step inputs (reused until their bytes change), a step's runconfig.
Real orchestrator, supervisors and scripts."""

from __future__ import annotations

from pathlib import Path

import pytest

from aml_jupyter import AmlError, Pipeline, PythonScriptStep, RunStatus, Workspace
from tests.conftest import write
from tests.test_pipelines import types


def test_an_output_dataset_feeds_the_next_step_through_as_input(
    ws: Workspace, tmp_path: Path
) -> None:
    from aml_jupyter import OutputFileDatasetConfig

    write(
        tmp_path / "src",
        "make.py",
        "import sys, pathlib\n(pathlib.Path(sys.argv[1]) / 'rows.csv').write_text('a\\n1\\n')\n",
    )
    write(
        tmp_path / "src",
        "use.py",
        "import sys, pathlib\nprint('read', (pathlib.Path(sys.argv[1]) / 'rows.csv').read_text().split())\n",
    )

    def pipeline() -> Pipeline:
        rows = OutputFileDatasetConfig(name="rows")
        make = PythonScriptStep(
            "make.py", name="make", arguments=[rows], source_directory=tmp_path / "src"
        )
        use = PythonScriptStep(
            "use.py", name="use", arguments=[rows.as_input()], source_directory=tmp_path / "src"
        )
        assert make
        return Pipeline(ws, [use])

    first = pipeline().submit("ds")
    assert first.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    (use,) = first.find_step_run("use")
    assert "read ['a', '1']" in use.read_log()
    (make,) = first.find_step_run("make")
    folder = make.get_output_data("rows").path
    assert folder.as_posix().endswith(f"dataset/{make.id}/rows")
    assert (folder / "rows.csv").read_text() == "a\n1\n"
    second = pipeline().submit("ds")
    assert second.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert set(types(second).values()) == {"azureml.ReusedStepRun"}


def test_an_output_dataset_without_a_name_cannot_be_read_by_a_step() -> None:
    from aml_jupyter import OutputFileDatasetConfig

    with pytest.raises(AmlError, match="needs the output to have a name"):
        OutputFileDatasetConfig().as_input()


def test_a_dataset_input_is_reused_until_its_bytes_change(ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter import Dataset

    data = tmp_path / "raw"
    write(data, "rows.txt", "1 2 3")
    write(
        tmp_path / "src",
        "count.py",
        "import sys, pathlib\nprint('sum', sum(int(x) for x in (pathlib.Path(sys.argv[1]) / 'rows.txt').read_text().split()))\n",
    )

    def pipeline() -> Pipeline:
        raw = Dataset.File.from_files(str(data)).as_named_input("raw").as_mount()
        step = PythonScriptStep(
            "count.py", name="count", arguments=[raw], source_directory=tmp_path / "src"
        )
        return Pipeline(ws, [step])

    first = pipeline().submit("data")
    assert first.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert "sum 6" in first.find_step_run("count")[0].read_log()
    second = pipeline().submit("data")
    second.wait_for_completion(show_output=False)
    assert types(second) == {"count": "azureml.ReusedStepRun"}
    write(data, "rows.txt", "1 2 3 4")  # the same path, new bytes
    third = pipeline().submit("data")
    assert third.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    (count,) = third.find_step_run("count")
    assert count.type == "azureml.StepRun" and "sum 10" in count.read_log()
    assert "dataset raw" in count.why_not_reused()


def test_a_steps_runconfig_reaches_its_script(ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter import RunConfiguration

    write(tmp_path / "src", "greet.py", "import os\nprint('greeting', os.environ['GREETING'])\n")
    config = RunConfiguration()
    config.environment_variables = {"GREETING": "hello"}
    step = PythonScriptStep(
        "greet.py", name="greet", runconfig=config, source_directory=tmp_path / "src"
    )
    run = Pipeline(ws, [step]).submit("rc")
    assert run.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert "greeting hello" in run.find_step_run("greet")[0].read_log()


def test_a_command_step_gets_its_data_paths(ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter import CommandStep, PipelineData

    (tmp_path / "src").mkdir()
    words = PipelineData("words")
    write_words = CommandStep(
        command=["sh", "-c", 'echo hello > "$0/w.txt"', words],
        name="write",
        outputs=[words],
        source_directory=tmp_path / "src",
    )
    read_words = CommandStep(
        command='cat "$AZUREML_DATAREFERENCE_words/w.txt"',
        name="read",
        inputs=[words],
        source_directory=tmp_path / "src",
    )
    assert write_words
    run = Pipeline(ws, [read_words]).submit("cmd")
    assert run.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    assert "hello" in run.find_step_run("read")[0].read_log()
    again = Pipeline(ws, [read_words]).submit("cmd")
    again.wait_for_completion(show_output=False)
    assert set(types(again).values()) == {"azureml.ReusedStepRun"}


def test_pipeline_data_on_a_datastore_of_its_own(ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter import Datastore, PipelineData

    store = Datastore.register_local(ws, "scratch", tmp_path / "scratch", create_if_not_exists=True)
    write(
        tmp_path / "src",
        "w.py",
        "import sys, pathlib\n(pathlib.Path(sys.argv[1]) / 'x').write_text('1')\n",
    )
    out = PipelineData("out", datastore=store)
    step = PythonScriptStep(
        "w.py", name="w", arguments=[out], outputs=[out], source_directory=tmp_path / "src"
    )
    run = Pipeline(ws, [step]).submit("own-store")
    assert run.wait_for_completion(show_output=False) == RunStatus.COMPLETED
    (w,) = run.find_step_run("w")
    assert w.get_output_data("out").path == tmp_path / "scratch" / "azureml" / w.id / "out"
    assert (tmp_path / "scratch" / "azureml" / w.id / "out" / "x").read_text() == "1"

"""The ``%aml_*`` magics in a real IPython shell, and once in a real Jupyter kernel."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from IPython import get_ipython
from IPython.core.interactiveshell import InteractiveShell
from IPython.testing.globalipapp import start_ipython

from aml_jupyter import Experiment, Run, RunStatus, Workspace
from aml_jupyter.frontends.magics.runs import CELL_SCRIPT, AmlMagics
from aml_jupyter.frontends.submit import default_experiment
from tests.conftest import wait_status, write
from tests.notebooks import widget_text

MAGICS = {
    "line": [
        "aml_workspace",
        "aml_submit",
        "aml_runs",
        "aml_logs",
        "aml_cancel",
        "aml_compute",
        "aml_env",
        "aml_show",
        "aml_tensorboard",
        "aml_register",
        "aml_models",
        "aml_deploy",
        "aml_datasets",
        "aml_datastores",
    ]
}
MAGICS["cell"] = ["aml_submit"]

CELL = """\
import helper
print("hello from the cell", helper.VALUE)
from azureml.core import Run
Run.get_context().log("acc", 0.75)
"""

SCRIPT = """\
import sys
from azureml.core import Run
print("script args", sys.argv[1:])
Run.get_context().log("loss", 0.25)
"""


@pytest.fixture(scope="module")
def shell() -> InteractiveShell:
    """IPython's own test shell (one per process), with the extension loaded."""
    ip = start_ipython() or get_ipython()  # one shell per process: a later call gets None
    assert ip is not None
    ip.run_cell("%load_ext aml_jupyter")
    return ip


@pytest.fixture
def ip(shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """The shell, working in an empty temp folder with no workspace from the outside."""
    monkeypatch.delenv("AML_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    write(tmp_path, "helper.py", "VALUE = 42\n")
    write(tmp_path, "data/input.csv", "a,b\n1,2\n")
    return shell


def submit_cell(ip: Any, line: str, cell: str = CELL) -> Run:
    run = ip.run_cell_magic("aml_submit", line, cell)
    assert isinstance(run, Run), f"%%aml_submit {line} returned {run!r}"
    return run


# loading ------------------------------------------------------------------------------------
def test_load_ext_registers_every_magic(shell: InteractiveShell) -> None:
    for kind, names in MAGICS.items():
        for name in names:
            shell.magics_manager.magics[kind].pop(name, None)
    assert shell.extension_manager is not None
    shell.extension_manager.loaded.discard("aml_jupyter")
    result = shell.run_cell("%load_ext aml_jupyter")
    assert result.success, result.error_in_exec
    for kind, names in MAGICS.items():
        registered = shell.magics_manager.magics[kind]
        assert [n for n in names if n in registered] == names, kind


def test_loading_the_magics_imports_neither_pandas_nor_the_core() -> None:
    code = (
        "import sys, aml_jupyter.frontends.magics.runs; "
        "print(sorted(m for m in sys.modules if m == 'pandas' or m.startswith('aml_jupyter.')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    # the magics' modules, their (docstring-only) parent packages and the version string
    assert out.strip() == str(
        [
            "aml_jupyter.frontends",
            "aml_jupyter.frontends.magics",
            "aml_jupyter.frontends.magics.browsing",
            "aml_jupyter.frontends.magics.common",
            "aml_jupyter.frontends.magics.runs",
            "aml_jupyter.frontends.magics.submitting",
            "aml_jupyter.frontends.magics.workspace",
            "aml_jupyter.version",
        ]
    )


def test_help_text_lists_the_options() -> None:
    doc = AmlMagics.aml_submit.__doc__ or ""
    options = ("--experiment", "--target", "--dir", "--name", "--tag", "--wait", "-- ARGS")
    for option in (*options, "--inputs NAMES", "--outputs NAMES"):
        assert option in doc, option
    assert "%%aml_submit" in doc
    assert "%%aml_submit only" in doc  # argparse's %-escapes come out right
    for magic, option in (
        (AmlMagics.aml_runs, "--status"),
        (AmlMagics.aml_cancel, "RUN"),
        (AmlMagics.aml_logs, "--follow"),
        (AmlMagics.aml_compute, "--workspace"),
        (AmlMagics.aml_env, "sys.executable"),
    ):
        assert option in (magic.__doc__ or ""), option


def test_every_magics_help_starts_with_what_it_does(shell: InteractiveShell) -> None:
    # IPython's magic_arguments writes reST: a "::" line and the usage came first.
    for kind, names in MAGICS.items():
        for name in names:
            doc = shell.magics_manager.magics[kind][name].__doc__ or ""
            first = doc.lstrip().splitlines()[0]
            assert not first.startswith(("::", "%", "usage")), (name, first)
            assert first[0].isupper() and "\nUsage:\n  %" in doc, (name, doc[:200])


def test_question_mark_shows_the_help(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    ip.run_cell("%aml_submit?")
    assert "--experiment NAME" in capsys.readouterr().out


# the workspace ------------------------------------------------------------------------------
def test_a_new_workspace_is_announced_once(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ws = ip.run_line_magic("aml_workspace", "")
    out = capsys.readouterr().out.splitlines()
    assert isinstance(ws, Workspace)
    assert ws.folder == tmp_path.resolve() / ".aml"
    assert (tmp_path / ".aml" / "aml.db").is_file()
    assert [line for line in out if "Created" in line] == [
        f"Created a new workspace in {ws.folder}"
    ]
    assert f"Workspace {tmp_path.name} in {ws.folder}" in out
    assert ip.run_line_magic("aml_workspace", "") == ws
    assert "Created" not in capsys.readouterr().out


def test_workspace_option_picks_the_folder(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "other").mkdir()
    ws = ip.run_line_magic("aml_workspace", "-w other")
    assert ws.folder == (tmp_path / "other" / ".aml").resolve()
    assert not (tmp_path / ".aml").exists()
    run = submit_cell(ip, "-w other --wait", "print('in other')")
    assert run.workspace == ws
    assert not (tmp_path / ".aml").exists()


# %%aml_submit -------------------------------------------------------------------------------
def test_cell_submit_waits_and_records_metric_and_log(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = submit_cell(ip, "--wait -e exp --name first --tag team=ml --tag quick")
    out = capsys.readouterr().out
    assert run.get_status() == RunStatus.COMPLETED
    assert run.experiment.name == "exp"
    assert run.get_metrics() == {"acc": 0.75}
    assert "hello from the cell 42" in run.read_log()
    assert f"Submitted run {run.id} to local (experiment exp)" in out.splitlines()
    assert "hello from the cell 42" in out  # streamed while waiting
    assert out.rstrip().endswith(f"Run {run.id}: Completed")
    assert run.display_name == "first"
    assert run.get_tags() == {"team": "ml", "quick": None}


def test_cell_snapshot_holds_the_folder_and_the_cell(ip: Any, tmp_path: Path) -> None:
    run = submit_cell(ip, "--wait -- --flag 'two words'", "import sys; print(sys.argv[1:])")
    restored = Path(run.restore_snapshot(path=tmp_path / "restored"))
    names = sorted(p.relative_to(restored).as_posix() for p in restored.rglob("*") if p.is_file())
    assert names == sorted([CELL_SCRIPT, "data/input.csv", "helper.py"])
    assert (restored / CELL_SCRIPT).read_text() == "import sys; print(sys.argv[1:])"
    assert run.experiment.name == "notebook"
    assert "['--flag', 'two words']" in run.read_log()
    assert not (tmp_path / CELL_SCRIPT).exists()  # the cell never touches the folder


def test_cell_script_name_never_shadows_a_file(ip: Any, tmp_path: Path) -> None:
    write(tmp_path, CELL_SCRIPT, "raise SystemExit('the folder file ran')\n")
    run = submit_cell(ip, "--wait -e exp", "print('the cell ran')")
    assert run.get_status() == RunStatus.COMPLETED, run.read_log()
    assert "the cell ran" in run.read_log()
    script = run.get_details()["runDefinition"]["script"]
    assert script != CELL_SCRIPT and script.startswith("aml_notebook_cell")


def test_cell_without_wait_returns_at_once(ip: Any) -> None:
    run = submit_cell(ip, "-e quick", "import time; time.sleep(1); print('done')")
    assert run.get_status() not in RunStatus.TERMINAL
    run.wait_for_completion()
    assert run.read_log() == "done\n"


# %aml_submit FILE ---------------------------------------------------------------------------
def test_script_submit_passes_arguments(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    write(tmp_path, "script.py", SCRIPT)
    run = ip.run_line_magic("aml_submit", "script.py --wait -- --lr 0.1")
    assert isinstance(run, Run)
    assert run.get_status() == RunStatus.COMPLETED
    assert run.experiment.name == default_experiment(str(tmp_path))
    assert run.get_details()["runDefinition"]["arguments"] == ["--lr", "0.1"]
    assert "script args ['--lr', '0.1']" in run.read_log()
    assert f"Submitted run {run.id} to local" in capsys.readouterr().out


def test_folder_submit_runs_its_entry_script(ip: Any, tmp_path: Path) -> None:
    write(tmp_path, "proj/train.py", "print('training')\n")
    run = ip.run_line_magic("aml_submit", "proj -e folder-exp --wait")
    assert run.experiment.name == "folder-exp"
    assert run.read_log() == "training\n"
    assert run.get_details()["runDefinition"]["script"] == "train.py"


# --inputs / --outputs -----------------------------------------------------------------------
NOTEBOOK_VARIABLES = """\
import pandas as pd
frame = pd.DataFrame({"a": [1, 2, 3], "b": [10, 20, 30]})
def weigh(df, factor):
    return float((df.a * df.b).sum() * factor)
"""


def wait_for(condition: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_inputs_go_in_and_outputs_come_back_with_wait(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aml_jupyter.frontends.magics.notebook_vars import INPUTS_FILE

    ip.run_cell(NOTEBOOK_VARIABLES)
    ip.user_ns.pop("total", None)
    run = submit_cell(
        ip,
        "--wait -e vars --inputs frame,weigh --outputs total,shape",
        "total = weigh(frame, 0.5)\nshape = frame.shape\nprint('computed', total)",
    )
    out = capsys.readouterr().out
    assert run.get_status() == RunStatus.COMPLETED, run.read_log()
    assert "computed 70.0" in run.read_log()
    assert ip.user_ns["total"] == 70.0
    assert ip.user_ns["shape"] == (3, 2)
    assert out.rstrip().splitlines()[-1] == f"Set total, shape from run {run.id}"
    restored = Path(run.restore_snapshot(path=tmp_path / "restored"))
    assert (restored / INPUTS_FILE).is_file()  # the inputs are kept with the run
    assert not (tmp_path / INPUTS_FILE).exists()  # and never written into the folder


def test_inputs_never_shadow_a_file_of_the_folder(ip: Any, tmp_path: Path) -> None:
    from aml_jupyter.frontends.magics.notebook_vars import INPUTS_FILE

    write(tmp_path, INPUTS_FILE, "the folder's own file\n")
    ip.user_ns["given"] = {"k": 1}
    run = submit_cell(ip, "--wait -e vars --inputs given --outputs back", "back = given['k'] + 1")
    assert run.get_status() == RunStatus.COMPLETED, run.read_log()
    assert ip.user_ns["back"] == 2
    restored = Path(run.restore_snapshot(path=tmp_path / "restored"))
    assert (restored / INPUTS_FILE).read_text() == "the folder's own file\n"


def test_outputs_without_wait_arrive_when_the_run_completes(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.user_ns["late"] = "old"
    run = submit_cell(ip, "-e vars --outputs late", "import time\ntime.sleep(1)\nlate = 2")
    out = capsys.readouterr().out
    assert f"late will be set here when run {run.id} completes." in out
    assert ip.user_ns["late"] == "old"  # the magic returned before the run ended
    assert run.get_status() not in RunStatus.TERMINAL
    wait_for(lambda: ip.user_ns["late"] == 2)
    assert run.get_status() == RunStatus.COMPLETED
    wait_for(lambda: f"Set late from run {run.id}" in capsys.readouterr().out)


def test_a_missing_output_fails_the_run_naming_it(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.user_ns.pop("never", None)
    run = submit_cell(ip, "--wait -e vars --outputs never", "x = 1")
    _, err = capsys.readouterr()
    assert run.get_status() == RunStatus.FAILED
    message = run.get_details()["error"]["error"]["message"]
    assert "NameError: --outputs never: the cell did not define this variable" in message
    assert err == f"aml: never not set: run {run.id} ended Failed\n"
    assert "never" not in ip.user_ns


def test_a_failed_run_without_wait_says_its_outputs_are_not_set(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = submit_cell(ip, "-e vars --outputs never", "raise SystemExit('no luck')")
    errors: list[str] = []

    def said() -> bool:
        errors.append(capsys.readouterr().err)
        return "no outputs for the notebook" in "".join(errors)

    wait_for(said)
    assert run.get_status() == RunStatus.FAILED
    (line,) = "".join(errors).splitlines()
    assert line.startswith(f"aml: Run {run.id} ended Failed")
    assert "never" not in ip.user_ns


def test_an_input_that_cannot_be_pickled_is_refused_before_any_run(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    ip.run_cell("import threading\nmy_lock = threading.Lock()")
    assert ip.run_cell_magic("aml_submit", "--inputs my_lock", "print(my_lock)") is None
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("aml: --inputs: cannot pass variable 'my_lock' (lock) to a run")
    assert not (Path(".aml")).exists()  # not even a workspace was made


# %aml_runs, %aml_logs, %aml_cancel ----------------------------------------------------------
def test_runs_lists_both_runs_with_metric_columns(ip: Any, tmp_path: Path) -> None:
    import pandas as pd

    cell_run = submit_cell(ip, "--wait -e exp --tag kind=cell")
    write(tmp_path, "script.py", SCRIPT)
    script_run = ip.run_line_magic("aml_submit", "script.py -e other --wait")
    frame = ip.run_line_magic("aml_runs", "")
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.index) == [script_run.id, cell_run.id]  # newest first
    assert frame.loc[cell_run.id, "acc"] == 0.75
    assert frame.loc[script_run.id, "loss"] == 0.25
    assert (frame["status"] == "Completed").all()
    assert list(ip.run_line_magic("aml_runs", "exp").index) == [cell_run.id]
    assert list(ip.run_line_magic("aml_runs", "--tag kind=cell").index) == [cell_run.id]
    assert list(ip.run_line_magic("aml_runs", "--top 1").index) == [script_run.id]
    assert ip.run_line_magic("aml_runs", "--status running").empty
    assert len(ip.run_line_magic("aml_runs", "--status Running,completed")) == 2


def test_logs_prints_the_driver_log(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    run = submit_cell(ip, "--wait -e exp")
    capsys.readouterr()
    assert ip.run_line_magic("aml_logs", run.id[: len("exp_") + 6]) is None
    assert capsys.readouterr().out == "hello from the cell 42\n"


def test_logs_follow_streams_until_the_run_ends(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    run = submit_cell(
        ip,
        "-e follow",
        "import time\nfor i in range(3):\n    print('tick', i, flush=True)\n    time.sleep(0.3)\n"
        "print('last', end='')",
    )
    assert run.get_status() not in RunStatus.TERMINAL
    capsys.readouterr()
    assert ip.run_line_magic("aml_logs", f"{run.id} --follow") is None
    out = capsys.readouterr().out
    assert run.get_status() == RunStatus.COMPLETED
    assert out == f"tick 0\ntick 1\ntick 2\nlast\nRun {run.id}: Completed\n"


def test_interrupting_logs_follow_leaves_the_run_going(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import types

    run = submit_cell(ip, "-e follow", "import time\ntime.sleep(30)")

    def interrupted(seconds: float) -> None:
        raise KeyboardInterrupt

    clock = types.SimpleNamespace(sleep=interrupted, monotonic=time.monotonic)
    monkeypatch.setattr("aml_jupyter.tracking.run_logs.time", clock)
    capsys.readouterr()
    ip.run_line_magic("aml_logs", f"{run.id} -f")
    out = capsys.readouterr().out
    assert out.startswith(f"\nStopped following; run {run.id} goes on (")
    assert run.get_status() not in RunStatus.TERMINAL
    run.cancel()


def test_cancel_stops_a_sleeping_run(
    ip: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AML_CANCEL_GRACE_SECONDS", "1")
    run = submit_cell(
        ip, "-e sleepy", "import time\nprint('sleeping', flush=True)\ntime.sleep(30)\n"
    )
    try:
        deadline = time.monotonic() + 20
        while "sleeping" not in run.read_log():
            assert time.monotonic() < deadline, run.get_status()
            time.sleep(0.05)
        capsys.readouterr()
        result = ip.run_line_magic("aml_cancel", run.id)
        assert result == run
        assert wait_status(run, RunStatus.TERMINAL) == RunStatus.CANCELED
        assert capsys.readouterr().out.splitlines()[-1] == f"Run {run.id}: Canceled"
        ip.run_line_magic("aml_cancel", run.id)
        assert capsys.readouterr().out == f"Run {run.id} had already ended: Canceled\n"
    finally:
        run.cancel()


# %aml_compute, %aml_env -----------------------------------------------------------------------
def test_compute_lists_the_targets(ip: Any) -> None:
    import pandas as pd

    frame = ip.run_line_magic("aml_compute", "")
    assert isinstance(frame, pd.DataFrame)
    assert frame.index.name == "name"
    assert frame.to_dict("index") == {
        "local": {"type": "local", "address": None, "status": "Succeeded"}
    }


def test_env_shows_the_interpreter_and_registered_environments(ip: Any) -> None:
    import platform

    from aml_jupyter import Environment, Workspace

    frame = ip.run_line_magic("aml_env", "")
    assert list(frame.index) == ["default"]
    row = frame.loc["default"]
    assert row["python"] == sys.executable
    assert platform.python_version() in row["kind"]
    run = submit_cell(ip, "--wait -e env", "import sys\nprint(sys.executable)")
    assert run.read_log() == f"{row['python']}\n"  # what runs really use

    env = Environment("mine")
    env.python.user_managed_dependencies = True
    env.environment_variables = {"WHO": "mine"}
    env.register(Workspace.from_config())
    frame = ip.run_line_magic("aml_env", "")
    assert frame.loc["mine"]["kind"] == "user-managed"
    run = submit_cell(ip, "--wait -e env --env mine", "import os\nprint(os.environ['WHO'])")
    python_line, output = run.read_log().splitlines()
    assert python_line.startswith("[aml] Python: ") and output == "mine"


def test_a_workspace_deleted_in_a_live_kernel_is_replaced(ip: Any, tmp_path: Path) -> None:
    import shutil

    ip.run_line_magic("aml_workspace", "")
    submit_cell(ip, "--wait -e before", "print('before')")
    shutil.rmtree(tmp_path / ".aml")
    run = submit_cell(ip, "--wait -e after", "print('after')")
    assert run.get_status() == RunStatus.COMPLETED
    assert [r.id for r in Workspace(tmp_path).store.list_runs()] == [run.id]


# bad input ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("%aml_submit missing.py", "'missing.py' does not exist"),
        ("%aml_submit", "give a script or folder"),
        ("%aml_submit --bogus helper.py", "unrecognized arguments: --bogus"),
        ("%aml_submit helper.py --lr 0.1", "unrecognized arguments"),
        ("%aml_submit helper.py 0.1", "put the script's arguments after --"),
        ("%aml_submit -e 'bad name' helper.py", "Experiment name 'bad name' is not allowed"),
        ("%%aml_submit -e -bad-\nprint(1)", "expected one argument"),
        ("%%aml_submit -e 'bad name'\nprint(1)", "Experiment name 'bad name' is not allowed"),
        ("%%aml_submit\n   \n", "the cell is empty"),
        ("%%aml_submit helper.py\nprint(1)", "runs the cell"),
        ("%%aml_submit -d nowhere\nprint(1)", "'nowhere' is not a folder"),
        ("%%aml_submit -t gpu-cluster\nprint(1)", "Unknown compute target 'gpu-cluster'"),
        ("%aml_submit --name 'unclosed helper.py", "cannot split the line"),
        ("%aml_logs nope", "No run with id 'nope'"),
        ("%aml_cancel nope", "No run with id 'nope'"),
        ("%aml_logs", "the following arguments are required: RUN"),
        ("%aml_logs nope -- more", "unexpected -- more"),
        ("%aml_runs nope", "No experiment 'nope'"),
        ("%aml_runs --status Done", "'Done' is not a run status"),
        ("%aml_runs --top -1", "--top must be 0 or more"),
        ("%aml_runs --tag =x", "write KEY=VALUE or KEY"),
        ("%%aml_submit --inputs undefined_here\nprint(1)", "no variable 'undefined_here'"),
        ("%%aml_submit --inputs a,no_such,nor_this\nprint(1)", "'no_such', 'nor_this'"),
        ("%%aml_submit --outputs df.x\nprint(1)", "--outputs 'df.x' is not a variable name"),
        ("%aml_submit helper.py --inputs a", "use them with %%aml_submit"),
        ("%aml_logs nope --follow", "No run with id 'nope'"),
        ("%aml_compute extra", "unrecognized arguments: extra"),
        ("%aml_env --bogus", "unrecognized arguments: --bogus"),
    ],
)
def test_bad_input_prints_one_line_and_no_traceback(
    ip: Any, capsys: pytest.CaptureFixture[str], code: str, message: str
) -> None:
    Workspace.create(".")
    ip.user_ns["a"] = 1
    result = ip.run_cell(code)
    out, err = capsys.readouterr()
    assert result.success, result.error_in_exec
    assert result.result is None
    assert "Traceback" not in out + err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aml: ")
    assert message in lines[0]
    assert Workspace(".").store.list_runs() == []


def test_aml_runs_in_a_fresh_folder_creates_the_workspace_and_says_so(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = ip.run_line_magic("aml_runs", "")
    assert frame is not None and frame.empty
    out = capsys.readouterr().out
    assert out.count("Created a new workspace") == 1
    assert (tmp_path / ".aml" / "aml.db").exists()


def test_run_magics_without_a_workspace_say_how_to_make_one(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert ip.run_line_magic("aml_logs", "some_run") is None
    err = capsys.readouterr().err
    assert err.startswith("aml: No .aml workspace") and err.count("\n") == 1
    assert not (tmp_path / ".aml").exists()


def test_a_bug_still_shows_its_traceback(ip: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("internal bug")

    monkeypatch.setattr("aml_jupyter.tracking.query.runs_dataframe", broken)
    Workspace.create(".")
    with pytest.raises(RuntimeError, match="internal bug"):
        ip.run_line_magic("aml_runs", "")


# a real notebook ----------------------------------------------------------------------------
def test_a_notebook_submits_a_cell(tmp_path: Path) -> None:
    import nbformat
    from nbclient import NotebookClient

    write(tmp_path, "helper.py", "VALUE = 7\n")
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell("%load_ext aml_jupyter"),
        nbformat.v4.new_code_cell(
            "%%aml_submit --wait -e nb-exp\n"
            + textwrap.dedent(
                """\
                import helper
                from azureml.core import Run
                print("from the notebook", helper.VALUE)
                Run.get_context().log("score", 3)
                """
            )
        ),
        nbformat.v4.new_code_cell("print(_.get_status(), _.get_metrics())"),
        nbformat.v4.new_code_cell("_"),
    ]
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=60,
        startup_timeout=60,
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    def stdout(cell: Any) -> str:
        return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")

    def stderr(cell: Any) -> str:
        return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stderr")

    submit_cell = nb.cells[1]
    text = stdout(submit_cell)
    assert stderr(submit_cell) == ""
    assert text.count("Created a new workspace in") == 1
    # In a kernel the live RunDetails widget shows the log (not a text stream).
    assert "from the notebook 7" not in text
    assert "from the notebook 7" in widget_text(nb)
    ws = Workspace(tmp_path)
    runs = list(Experiment(ws, "nb-exp").get_runs())
    assert len(runs) == 1
    run = runs[0]
    assert f"Submitted run {run.id} to local (experiment nb-exp)" in text
    assert run.get_status() == RunStatus.COMPLETED
    assert run.get_metrics() == {"score": 3}
    assert run.read_log() == "from the notebook 7\n"
    # The widget is the cell's view: no one-row summary rendered once (and soon stale) under it.
    assert [o for o in submit_cell.outputs if o["output_type"] == "execute_result"] == []
    assert stdout(nb.cells[2]) == "Completed {'score': 3}\n"
    # In a later cell the run shows its summary as ever, as it is then.
    shown = [
        o for o in nb.cells[3].outputs if o["output_type"] in ("execute_result", "display_data")
    ]
    assert len(shown) == 1 and run.id in shown[0]["data"]["text/plain"]
    assert "Completed" in shown[0]["data"]["text/html"]


@pytest.fixture(autouse=True)
def _no_stray_runs(tmp_path: Path) -> Iterator[None]:
    """Every run a test started has ended when it is over (nothing keeps running)."""
    yield
    folder = Workspace.find(tmp_path)
    if folder is None or not folder.is_relative_to(tmp_path.resolve()):
        return
    for row in Workspace(folder).store.list_runs(include_children=True):
        run = Workspace(folder).get_run(row.id)
        if run.get_status() not in RunStatus.TERMINAL:
            run.cancel()
            wait_status(run, RunStatus.TERMINAL)


def test_aml_show_returns_the_live_widget_of_a_run(ip: Any) -> None:
    from aml_jupyter.frontends.widgets import RunDetails

    run = submit_cell(ip, "-e show --wait", CELL)
    details = ip.run_line_magic("aml_show", run.id[:-3])
    assert isinstance(details, RunDetails) and details.run == run
    details.refresh()
    assert "Completed" in details.status_label.value
    assert "hello from the cell 42" in details.log_view.value
    newest = ip.run_line_magic("aml_show", "")  # no id: the newest run
    assert newest.run == run


def test_submit_shows_the_widget_only_where_it_renders(
    ip: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # A terminal IPython cannot render widgets: --wait streams the log as text instead.
    submit_cell(ip, "-e w --wait", CELL)
    assert "hello from the cell 42" in capsys.readouterr().out
    from aml_jupyter.frontends.magics.common import _widgets_render

    assert not _widgets_render(ip)


def test_aml_tensorboard_serves_a_run_and_stops(ip: Any, tmp_path: Path) -> None:
    import urllib.request

    write(
        tmp_path,
        "tb.py",
        """
        from tensorboard.summary import Writer
        w = Writer("logs")
        for step in range(3):
            w.add_scalar("loss", 1.0 / (step + 1), step=step)
        w.close()
        """,
    )
    run = ip.run_line_magic("aml_submit", "tb.py -e tb --wait --no-widget")
    board = ip.run_line_magic("aml_tensorboard", f"{run.id} --port 6150")
    pid = board.pid
    try:
        assert board is not None and pid
        with urllib.request.urlopen(f"http://127.0.0.1:{board.port}/data/runs", timeout=10) as r:
            assert run.id in r.read().decode()
        assert "<iframe" in board._repr_html_()
    finally:
        ip.run_line_magic("aml_tensorboard", f"{run.id} --port 6150 --stop")
    assert (
        not Path(f"/proc/{board.pid}").exists()
        or "Z" in Path(f"/proc/{board.pid}/stat").read_text().split(")")[1][:3]
    )


def test_submit_a_distributed_job_from_the_magic(ip: Any, tmp_path: Path) -> None:
    write(
        tmp_path,
        "dist.py",
        "import os\nprint('rank', os.environ['RANK'], 'of', os.environ['WORLD_SIZE'])\n",
    )
    run = ip.run_line_magic(
        "aml_submit", "dist.py -e dist --nodes 1 --procs 3 --backend gloo --wait"
    )
    assert run.get_status() == RunStatus.COMPLETED
    logs = sorted(n for n in run.get_file_names() if n.startswith("user_logs/"))
    assert logs == [
        "user_logs/std_log.txt",
        "user_logs/std_log_process_1.txt",
        "user_logs/std_log_process_2.txt",
    ]
    assert "rank 0 of 3" in run.read_log()
    assert run.get_details()["runDefinition"]["distributed"]["backend"] == "gloo"


# %aml_datasets, %aml_datastores ---------------------------------------------------------------
def test_datasets_and_datastores_as_frames(
    ip: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from aml_jupyter import Dataset, Datastore, Workspace

    assert ip.run_line_magic("aml_datasets", "") is None  # no workspace: none is made
    assert "aml workspace create" in capsys.readouterr().err
    assert Workspace.find(tmp_path) is None
    ws = Workspace.create(tmp_path)
    assert ip.run_line_magic("aml_datasets", "").empty
    first = Dataset.File.from_files(str(tmp_path / "data")).register(ws, "raw", tags={"a": "1"})
    write(tmp_path, "data/more.csv", "a,b\n3,4\n")
    Dataset.File.from_files(str(tmp_path / "data")).register(ws, "raw", create_new_version=True)
    Dataset.Tabular.from_delimited_files(str(tmp_path / "data" / "*.csv")).register(ws, "tab")
    ws.store.add_run_datasets("run-x", "input", {"train": first.id})
    frame = ip.run_line_magic("aml_datasets", "")
    assert list(frame.index) == ["raw", "tab"]
    assert frame.loc["raw", "version"] == 2 and frame.loc["raw", "files"] == 2
    assert frame.loc["tab", "kind"] == "tabular" and frame.loc["raw", "runs"] == 0
    versions = ip.run_line_magic("aml_datasets", "raw")
    assert list(versions.index) == [2, 1] and versions.loc[1, "tags"] == {"a": "1"}
    assert ip.run_line_magic("aml_datasets", "nope") is None
    assert "No dataset named 'nope'" in capsys.readouterr().err

    Datastore.register_local(ws, "scratch", tmp_path)
    stores = ip.run_line_magic("aml_datastores", "")
    assert list(stores.index) == ["workspaceblobstore", "scratch"]
    assert stores.loc["scratch", "where"] == str(tmp_path)
    assert bool(stores.loc["workspaceblobstore", "default"]) is True


# %aml_register, %aml_models -------------------------------------------------------------------
def test_register_and_list_models(ip: Any, tmp_path: Path) -> None:
    from aml_jupyter import Model, Workspace

    write(
        tmp_path,
        "train.py",
        SCRIPT.replace("print", "open('outputs/m.txt', 'w').write('m')\nprint"),
    )
    (tmp_path / "outputs").mkdir()
    run = ip.run_line_magic("aml_submit", "train.py --wait")
    model = ip.run_line_magic(
        "aml_register", f"iris outputs/m.txt --run {run.id} --tag stage=dev --framework Custom"
    )
    assert model.id == "iris:1" and model.run_id == run.id and model.tags == {"stage": "dev"}
    write(tmp_path, "local.bin", "x")
    assert ip.run_line_magic("aml_register", "iris local.bin").version == 2
    frame = ip.run_line_magic("aml_models", "")
    assert list(frame.index) == ["iris:2", "iris:1"]
    assert frame.loc["iris:1", "framework"] == "Custom" and frame.loc["iris:1", "run"] == run.id
    assert list(ip.run_line_magic("aml_models", "--tag stage=dev").index) == ["iris:1"]
    assert list(ip.run_line_magic("aml_models", "--latest").index) == ["iris:2"]
    assert Model(Workspace.from_config(), "iris").version == 2


def test_register_mistakes_are_one_line(ip: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert ip.run_line_magic("aml_register", "iris missing.pkl") is None
    assert "aml: model_path 'missing.pkl' does not exist." in capsys.readouterr().err
    assert ip.run_line_magic("aml_register", "iris") is None
    assert "%aml_register?" in capsys.readouterr().err

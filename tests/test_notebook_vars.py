"""The API behind ``%%aml_submit --inputs/--outputs``: pickling notebook variables into a
run, the generated script, and results back from the run."""

from __future__ import annotations

import pickle
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from aml_jupyter import AmlError, Experiment, Run, RunStatus, ScriptRunConfig
from aml_jupyter.frontends.magics import notebook_vars as nv

#: Code as a notebook defines it: its functions and classes live in ``__main__``, which
#: another process does not have, so they must travel by value.
NOTEBOOK_CODE = """\
import pandas as pd
OFFSET = 100
def scale(values, factor=2):
    return [v * factor + OFFSET for v in values]
class Box:
    def __init__(self, item):
        self.item = item
df = pd.DataFrame({"a": [1, 2, 3]})
box = Box("thing")
"""


def notebook_namespace() -> dict[str, Any]:
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(NOTEBOOK_CODE, namespace)
    return namespace


def run_script(folder: Path, cell: str, inputs: list[str], outputs: list[str]) -> Any:
    """Write what a submit puts in a snapshot into ``folder`` and run it in a new Python."""
    if inputs:
        data = nv.pack_inputs(inputs, notebook_namespace())
        (folder / nv.INPUTS_FILE).write_bytes(data)
    (folder / "cell.py").write_text(nv.cell_script(cell, bool(inputs), outputs))
    return subprocess.run(
        [sys.executable, "cell.py"], cwd=folder, capture_output=True, text=True, timeout=60
    )


# names --------------------------------------------------------------------------------------
def test_parse_names_splits_commas_keeps_order_and_drops_repeats() -> None:
    assert nv.parse_names(None) == []
    assert nv.parse_names("df, model,,df") == ["df", "model"]
    assert nv.parse_names(["a,b", "c", "a"]) == ["a", "b", "c"]


@pytest.mark.parametrize("bad", ["df.x", "1st", "class", "a-b"])
def test_parse_names_refuses_what_is_not_a_variable(bad: str) -> None:
    with pytest.raises(AmlError, match=rf"--outputs '{bad}' is not a variable name"):
        nv.parse_names(f"ok,{bad}", "--outputs")


# inputs -------------------------------------------------------------------------------------
def test_pack_inputs_round_trips_data() -> None:
    namespace = notebook_namespace()
    values = pickle.loads(nv.pack_inputs(["df", "OFFSET"], namespace))
    assert list(values) == ["df", "OFFSET"]
    pd.testing.assert_frame_equal(values["df"], namespace["df"])
    assert values["OFFSET"] == 100


def test_pack_inputs_names_every_undefined_variable() -> None:
    with pytest.raises(AmlError, match=r"no variables 'x1', 'x2' in the notebook"):
        nv.pack_inputs(["df", "x1", "x2"], notebook_namespace())
    with pytest.raises(AmlError, match=r"no variable 'x1' in the notebook"):
        nv.pack_inputs(["x1"], {})


def test_pack_inputs_names_the_variable_that_cannot_be_pickled() -> None:
    namespace = {**notebook_namespace(), "lock": threading.Lock()}
    with pytest.raises(AmlError) as info:
        nv.pack_inputs(["df", "lock"], namespace)
    message = str(info.value)
    assert "cannot pass variable 'lock' (lock) to a run" in message
    assert "cannot pickle '_thread.lock' object" in message
    assert "\n" not in message


def test_pack_inputs_refuses_more_than_the_limit_and_says_which(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    namespace = {"small": b"x" * 100, "big": b"x" * 2_000_000}
    with pytest.raises(AmlError) as info:
        nv.pack_inputs(["small", "big"], namespace, max_bytes=1_000_000)
    message = str(info.value)
    assert message.startswith("--inputs: the variables pickle to more than 1.0 MB, the limit")
    assert "(small: 0.1 kB; big: over 1.0 MB)" in message
    assert nv.MAX_INPUT_BYTES_ENV in message
    monkeypatch.setenv(nv.MAX_INPUT_BYTES_ENV, "1000000")
    with pytest.raises(AmlError, match=r"more than 1\.0 MB"):
        nv.pack_inputs(["big"], namespace)
    assert pickle.loads(nv.pack_inputs(["small"], namespace)) == {"small": b"x" * 100}
    monkeypatch.setenv(nv.MAX_INPUT_BYTES_ENV, "lots")
    with pytest.raises(AmlError, match="is not a positive number of bytes"):
        nv.pack_inputs(["small"], namespace)


def test_the_default_limit_is_200_mb(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(nv.MAX_INPUT_BYTES_ENV, raising=False)
    assert nv.max_input_bytes() == 200 * 1024 * 1024


# the script ---------------------------------------------------------------------------------
def test_script_gets_notebook_functions_and_classes_and_saves_outputs(tmp_path: Path) -> None:
    cell = "result = scale(df.a.tolist())\nlabel = Box(box.item.upper())\nprint('ok', result)"
    done = run_script(tmp_path, cell, ["df", "scale", "Box", "box"], ["result", "label"])
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok [102, 104, 106]\n"
    with open(tmp_path / "outputs" / "aml_notebook_outputs.pkl", "rb") as f:
        values = pickle.load(f)
    assert values["result"] == [102, 104, 106]
    assert values["label"].item == "THING"


def test_script_keeps_future_imports_first(tmp_path: Path) -> None:
    cell = '"""Doc."""\nfrom __future__ import annotations\ndef f(x: Undefined) -> int:\n    return 1\nout = f(OFFSET)\n'
    done = run_script(tmp_path, cell, ["OFFSET"], ["out"])
    assert done.returncode == 0, done.stderr
    script = (tmp_path / "cell.py").read_text().splitlines()
    assert script[1] == "from __future__ import annotations"
    assert script[2].startswith(
        "from aml_jupyter.frontends.magics.notebook_vars import load_inputs"
    )


def test_inputs_line_shifts_the_cell_by_one_line(tmp_path: Path) -> None:
    done = run_script(tmp_path, "x = OFFSET\nraise ValueError('boom')", ["OFFSET"], [])
    assert done.returncode == 1
    assert 'cell.py", line 3' in done.stderr  # line 2 of the cell
    assert done.stderr.rstrip().endswith("ValueError: boom")


def test_a_cell_without_inputs_or_outputs_is_unchanged() -> None:
    assert nv.cell_script("print(1)\n", False, []) == "print(1)\n"
    assert nv.cell_script("print(1", True, []).endswith("\nprint(1\n")  # syntax is the run's


def test_missing_output_fails_the_script_naming_it(tmp_path: Path) -> None:
    done = run_script(tmp_path, "a = 1", [], ["a", "nope", "gone"])
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == "NameError: --outputs nope, gone: the cell did not define these variables"
    assert not (tmp_path / "outputs" / "aml_notebook_outputs.pkl").exists()


def test_unpicklable_output_fails_the_script_naming_it(tmp_path: Path) -> None:
    done = run_script(
        tmp_path, "import threading\nok = 1\nlock = threading.Lock()", [], ["ok", "lock"]
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("TypeError: --outputs lock: cannot be pickled")


def test_save_outputs_writes_next_to_the_script_whatever_the_cwd(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    cell = "import os\nos.chdir('elsewhere')\nvalue = 5"
    done = run_script(tmp_path, cell, [], ["value"])
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "outputs" / "aml_notebook_outputs.pkl").is_file()
    assert not (tmp_path / "elsewhere" / "outputs").exists()


# outputs from runs --------------------------------------------------------------------------
def submit(
    exp: Experiment, cell: str, outputs: list[str], inputs: dict[str, Any] | None = None
) -> Run:
    config = ScriptRunConfig(source_directory=exp.workspace.folder.parent, script="cell.py")
    config.extra_files = {"cell.py": nv.cell_script(cell, bool(inputs), outputs).encode()}
    if inputs:
        config.extra_files[nv.INPUTS_FILE] = nv.pack_inputs(list(inputs), inputs)
    return exp.submit(config)


def test_load_outputs_of_a_completed_run(exp: Experiment) -> None:
    run = submit(exp, "y = x * 2\nz = 'text'", ["y", "z"], {"x": 21})
    run.wait_for_completion()
    assert nv.load_outputs(run) == {"y": 42, "z": "text"}
    assert nv.OUTPUTS_FILE in run.get_file_names()


def test_load_outputs_says_why_there_are_none(exp: Experiment) -> None:
    failed = submit(exp, "a = 1", ["nope"])
    plain = submit(exp, "a = 1", [])
    slow = submit(exp, "import time\ntime.sleep(30)\na = 1", ["a"])
    try:
        with pytest.raises(AmlError, match=rf"Run {slow.id} is \w+: its outputs come back"):
            nv.load_outputs(slow)
        failed.wait_for_completion(raise_on_error=False)
        with pytest.raises(AmlError) as info:
            nv.load_outputs(failed)
        assert f"Run {failed.id} ended Failed" in str(info.value)
        assert "--outputs nope: the cell did not define this variable" in str(info.value)
        plain.wait_for_completion()
        with pytest.raises(AmlError, match=r"has no outputs/aml_notebook_outputs\.pkl"):
            nv.load_outputs(plain)
    finally:
        slow.cancel()
        slow.wait_for_completion(raise_on_error=False, timeout_seconds=30)


def test_set_outputs_when_done_sets_them_from_a_thread(exp: Experiment) -> None:
    run = submit(exp, "import time\ntime.sleep(0.5)\nanswer = 42", ["answer"])
    namespace: dict[str, Any] = {"answer": "old"}
    calls: list[Any] = []
    thread = nv.set_outputs_when_done(run, namespace, on_set=calls.append, on_error=calls.append)
    assert thread.daemon
    assert namespace["answer"] == "old"  # not before the run completes
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert run.get_status() == RunStatus.COMPLETED
    assert namespace["answer"] == 42
    assert calls == [["answer"]]


def test_set_outputs_when_done_reports_a_failed_run(exp: Experiment) -> None:
    run = submit(exp, "raise SystemExit(3)", ["answer"])
    namespace: dict[str, Any] = {}
    errors: list[str] = []
    thread = nv.set_outputs_when_done(run, namespace, on_set=errors.append, on_error=errors.append)
    thread.join(timeout=60)
    assert namespace == {}
    assert len(errors) == 1 and errors[0].startswith(f"Run {run.id} ended Failed")

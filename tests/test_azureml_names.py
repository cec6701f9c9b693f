"""``azureml.*`` means aml_jupyter in the aml kernel, after the opt-in line and inside runs;
what it does not provide fails by name; the coverage table says exactly what it provides."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aml_jupyter.paths import SHIM_DIR
from aml_jupyter.version import __version__
from tests.notebooks import execute, outputs_text

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "docs" / "azureml-v1-coverage.md"


def coverage_table() -> tuple[dict[str, str], dict[str, dict[str, str]]]:
    """``({module: status}, {module: {name: status}})`` as docs/azureml-v1-coverage.md says."""
    modules: dict[str, str] = {}
    names: dict[str, dict[str, str]] = {}
    section: str | None = None
    for line in TABLE.read_text().splitlines():
        heading = re.match(r"^### `([\w.]+)`$", line)
        if heading:
            section = heading.group(1)
            names[section] = {}
            continue
        if line.startswith("## "):
            section = None
        row = re.match(r"^\| `([\w.]+)` \| (covered|not yet) \|", line)
        if row:
            (names[section] if section else modules)[row.group(1)] = row.group(2)
    return modules, names


def shim_modules() -> set[str]:
    """Every module a file of the shim defines (not its private helpers, ``_*.py``)."""
    found = set()
    for path in SHIM_DIR.rglob("*.py"):
        parts = list(path.relative_to(SHIM_DIR).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        elif parts[-1].startswith("_"):
            continue
        if len(parts) > 1:  # the azureml namespace itself is no v1 module
            found.add(".".join(parts))
    return found


#: Imports every module and name of the table (after the opt-in line) and reports what happened.
PROBE = """
import importlib, json, sys
import aml_jupyter.azureml
modules, names = json.loads(sys.argv[1])
report = {"modules": {}, "all": {}, "names": {}}

def outcome(call):
    try:
        call()
        return "ok"
    except Exception as e:
        return f"{type(e).__name__}:{getattr(e, 'name', '')}:{e}"

for module in modules:
    report["modules"][module] = outcome(lambda: importlib.import_module(module))
    if report["modules"][module] == "ok":
        report["all"][module] = sorted(importlib.import_module(module).__all__)
for module, table in names.items():
    for name in table:
        report["names"][f"{module}.{name}"] = outcome(
            lambda: getattr(importlib.import_module(module), name))
print(json.dumps(report))
"""


def test_the_coverage_table_is_what_the_shim_exports() -> None:
    modules, names = coverage_table()
    assert modules["azureml.core"] == "covered" and names["azureml.core"]["Workspace"] == "covered"
    covered_modules = {m for m, status in modules.items() if status == "covered"}
    assert covered_modules == shim_modules(), "a shim file without its row, or a row without file"
    for module in names:
        assert modules.get(module) == "covered", f"names of {module}, but no covered module row"
    for module in covered_modules:
        assert module in names, f"{module} has no table of names"

    out = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([list(modules), names])],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    report = json.loads(out.stdout.splitlines()[-1])
    for module, status in modules.items():
        got = report["modules"][module]
        if status == "covered":
            assert got == "ok", (module, got)
        else:
            assert got.startswith(f"V1NameNotSupported:{module}:"), (module, got)
            assert "not supported by aml_jupyter yet" in got
    for module, table in names.items():
        covered = sorted(n for n, status in table.items() if status == "covered")
        assert report["all"][module] == covered, f"{module}: __all__ and the table differ"
        for name, status in table.items():
            got = report["names"][f"{module}.{name}"]
            if status == "covered":
                assert got == "ok", (module, name, got)
            else:
                assert got.startswith(f"V1NameNotSupported:{module}.{name}:"), (name, got)


def run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, **env},
    )


def test_unknown_names_fail_by_name_as_import_and_aml_errors() -> None:
    code = """
import aml_jupyter.azureml
from aml_jupyter import AmlError
for statement in ["import azureml.interpret", "from azureml.core import LinkedService",
                  "from azureml.train.automl import AutoMLConfig", "import azureml.core.nope",
                  "from azureml.core.model import Nope"]:
    try:
        exec(statement)
    except ImportError as e:
        assert isinstance(e, AmlError), statement
        print(statement, "|", e.name, "|", str(e).split(" is ")[0])
import azureml.core
assert not hasattr(azureml.core, "_repr_html_")  # private probes stay AttributeErrors
"""
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "import azureml.interpret | azureml.interpret | azureml.interpret" in lines
    assert any(
        line.endswith("| azureml.core.LinkedService | azureml.core.LinkedService") for line in lines
    )
    assert any("| azureml.train.automl |" in line for line in lines)
    assert any("| azureml.core.nope |" in line for line in lines)
    assert any("| azureml.core.model.Nope |" in line for line in lines)
    assert "ModuleNotFoundError" not in out.stderr


def test_inside_a_run_the_shim_on_pythonpath_fails_by_name_too() -> None:
    # What a run's supervisor sets (compute/local/supervisor.py): the shim first, no opt-in.
    code = """
from azureml.core import Run, VERSION
try:
    import azureml.interpret
except ImportError as e:
    print(type(e).__name__, e.name, VERSION)
"""
    out = run_python(code, PYTHONPATH=os.pathsep.join([str(SHIM_DIR), str(ROOT)]))
    assert out.stdout.split() == ["V1NameNotSupported", "azureml.interpret", __version__]
    assert "serves the Azure ML v1 names" not in out.stdout  # runs print no banner


def test_submodules_import_on_first_attribute_access() -> None:
    code = "import aml_jupyter.azureml, azureml.core; print(azureml.core.workspace.Workspace)"
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "aml_jupyter.tracking.workspace.Workspace" in out.stdout


def test_v1_sign_in_objects_are_accepted_and_keep_no_secret(tmp_path: Path) -> None:
    code = """
import aml_jupyter.azureml
from azureml.core import Workspace
from azureml.core.authentication import ServicePrincipalAuthentication
auth = ServicePrincipalAuthentication(tenant_id="t", service_principal_id="i",
                                      service_principal_password="pw-123")
Workspace.create(".")
print(Workspace.from_config(auth=auth).name, repr(auth), vars(auth))
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path, check=True
    )
    assert "no sign-in needed" in out.stdout and "pw-123" not in out.stdout


def fake_azureml_core(site: Path) -> None:
    """An installed 'azureml-core' as pip lays it out: a package and its dist-info."""
    (site / "azureml" / "core").mkdir(parents=True)
    (site / "azureml" / "core" / "__init__.py").write_text("MICROSOFT = True\n")
    info = site / "azureml_core-1.99.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: azureml-core\nVersion: 1.99.0\n")


def test_an_installed_azureml_core_is_never_shadowed(tmp_path: Path) -> None:
    fake_azureml_core(tmp_path / "site")
    code = "import aml_jupyter.azureml\nfrom azureml.core import MICROSOFT\nprint(MICROSOFT)"
    out = run_python(code, PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path / "site")]))
    assert out.returncode == 0, out.stderr
    first, second = out.stdout.splitlines()
    assert "Microsoft's azureml-core 1.99.0" in first and "is installed and used" in first
    assert second == "True"


def cells(*sources: str) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    return nb


def test_the_aml_kernel_imports_v1_names_and_says_which(aml_kernel: str, tmp_path: Path) -> None:
    nb = execute(
        cells(
            "from azureml.core import Workspace, Experiment, Run, ScriptRunConfig, VERSION\n"
            "from azureml.widgets import RunDetails\n"
            "from azureml.tensorboard import Tensorboard\n"
            "from azureml.telemetry import set_diagnostics_collection\n"
            "set_diagnostics_collection(send_diagnostics=True)\n"
            "print('SDK version:', VERSION, Workspace.__module__)",
            "try:\n    from azureml.interpret import ExplanationClient\n"
            "except ImportError as e:\n    print('refused:', type(e).__name__, e.name)",
        ),
        tmp_path,
        aml_kernel,
    )
    first = "".join(o.get("text", "") for o in nb.cells[0].outputs).splitlines()
    assert first[0].startswith(f"azureml: aml_jupyter {__version__} serves the Azure ML v1 names")
    assert first[1] == f"SDK version: {__version__} aml_jupyter.tracking.workspace"
    assert "refused: V1NameNotSupported azureml.interpret" in outputs_text(nb)


def test_the_aml_kernel_leaves_a_real_azureml_core_alone(
    aml_kernel: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_azureml_core(tmp_path / "site")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), str(tmp_path / "site")]))
    nb = execute(
        cells("from azureml.core import MICROSOFT\nprint(MICROSOFT)"), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    assert "Microsoft's azureml-core 1.99.0" in text and "True" in text


def test_shell_cells_do_not_wait_on_a_pager(aml_kernel: str, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], check=True)
    for i in range(60):  # more than a screen of log: a pager would wait for a key
        subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", f"c{i}"], check=True)
    nb = execute(
        cells(
            "import os, tqdm\nprint(os.environ['PAGER'], os.environ['GIT_PAGER'])",
            f"!git -C {repo} log --oneline",
            "from tqdm.auto import tqdm\nfor _ in tqdm(range(3)): pass",
        ),
        tmp_path,
        aml_kernel,
        timeout=60,
    )
    assert nb.cells[0].outputs[0]["text"].split() == ["cat", "cat"]
    # ``!cmd`` runs on a terminal, where git pages its log: through cat, all 60 lines come back
    log = "".join(o.get("text", "") for o in nb.cells[1].outputs).split()
    assert "c0" in log and "c59" in log

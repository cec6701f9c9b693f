"""Every demo notebook runs headless in the "Python 3 (aml)" kernel, and its runs are recorded."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from aml_jupyter import RunStatus, Workspace
from tests.notebooks import DEMOS, execute, outputs_text


def cell_stdout(nb: nbformat.NotebookNode, marker: str) -> str:
    """What the (one) cell whose source holds ``marker`` printed to stdout, in one piece."""
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and marker in c.source]
    return "".join(o.get("text", "") for o in cell.outputs if o.get("name") == "stdout")


def test_the_kernelspec_preloads_the_magics(aml_kernel: str, tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("%aml_workspace")]
    done = execute(nb, tmp_path, aml_kernel)
    assert "UsageError" not in outputs_text(done)
    assert (tmp_path / ".aml" / "aml.db").exists()


def test_quickstart(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "01-quickstart.ipynb", tmp_path)
    nb = execute(
        nbformat.read(tmp_path / "01-quickstart.ipynb", as_version=4), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    assert "epoch 9: loss 0.100" in text  # the run's log streamed into the notebook
    ws = Workspace(tmp_path)
    runs = list(ws.experiments["quickstart"].get_runs())
    assert len(runs) == 1
    run = runs[0]
    assert run.get_status() == RunStatus.COMPLETED
    assert run.get_metrics()["loss"] == [1 / (epoch + 1) for epoch in range(10)]
    assert run.get_tags() == {"owner": "me"}
    assert (
        os.path.basename(str(run.get_details()["runDefinition"]["sourceDirectory"]))
        == tmp_path.name
    )


def test_a_kernel_restart_does_not_stop_a_submitted_run(aml_kernel: str, tmp_path: Path) -> None:
    from jupyter_client.manager import start_new_kernel

    (tmp_path / "slow.py").write_text("import time\ntime.sleep(2)\nprint('outlived the kernel')\n")
    km, kc = start_new_kernel(kernel_name=aml_kernel, cwd=str(tmp_path))
    try:
        reply = kc.execute_interactive(
            "r = %aml_submit slow.py -e restart\nprint('RUN', r.id)", timeout=60
        )
        assert reply["content"]["status"] == "ok"
        km.restart_kernel(now=True)  # SIGKILLs the kernel's process group
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    ws = Workspace(tmp_path)
    (run,) = ws.experiments["restart"].get_runs()
    assert run.wait_for_completion(timeout_seconds=60)["status"] == RunStatus.COMPLETED
    assert "outlived the kernel" in run.read_log()


def test_train_a_folder(aml_kernel: str, tmp_path: Path) -> None:
    import joblib

    shutil.copy(DEMOS / "02-train-a-folder.ipynb", tmp_path)
    shutil.copytree(DEMOS / "train_iris", tmp_path / "train_iris")
    nb = execute(
        nbformat.read(tmp_path / "02-train-a-folder.ipynb", as_version=4), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    ws = Workspace(tmp_path)
    second, first = ws.experiments["iris"].get_runs()  # newest first
    for run, c in ((first, 0.5), (second, 0.05)):
        assert run.get_status() == RunStatus.COMPLETED, run.read_log()
        metrics = run.get_metrics()
        assert metrics["C"] == c and metrics["max_iter"] == 200
        assert len(metrics["class_accuracy"]) == 3
        assert "outputs/model.joblib" in run.get_file_names()
        definition = run.get_details()["runDefinition"]
        assert definition["arguments"] == ["--C", str(c)]
        assert os.path.basename(definition["sourceDirectory"]) == "train_iris"
    assert first.get_metrics()["accuracy"] > second.get_metrics()["accuracy"] > 0.5
    model = joblib.load(tmp_path / "model.joblib")  # the notebook downloaded the first model
    assert model.C == 0.5
    assert "predicted: setosa, versicolor, virginica" in text
    # %aml_logs --follow printed the second run's log, then its end
    followed = cell_stdout(nb, "--follow")
    assert followed.startswith(f"Submitted run {second.id} to local (experiment iris)\n")
    assert followed.endswith(
        f"accuracy 0.867\nsaved outputs/model.joblib\nRun {second.id}: Completed\n"
    )
    assert "local" in text and sys.executable in text  # %aml_compute, %aml_env


def test_notebook_variables(aml_kernel: str, tmp_path: Path) -> None:
    from aml_jupyter.frontends.magics.notebook_vars import INPUTS_FILE, OUTPUTS_FILE

    shutil.copy(DEMOS / "04-notebook-variables.ipynb", tmp_path)
    nb = execute(
        nbformat.read(tmp_path / "04-notebook-variables.ipynb", as_version=4), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    ws = Workspace(tmp_path)
    (run,) = ws.experiments["notebook-vars"].get_runs()
    assert run.get_status() == RunStatus.COMPLETED, run.read_log()
    metrics = run.get_metrics()
    assert abs(metrics["coef_x"] - 3) < 0.2 and abs(metrics["coef_intercept"] - 2) < 0.5
    assert 0.8 < metrics["rmse"] < 1.2  # the noise the notebook added
    assert OUTPUTS_FILE in run.get_file_names()
    assert f"Set fit, residuals from run {run.id}" in text
    # the results were used in the notebook after the run
    assert f"fit: {{'x': {metrics['coef_x']}, 'x2': {metrics['coef_x2']}," in text
    assert "residuals: mean -0.000, std 1.02" in text or "residuals: mean 0.000, std 1.02" in text
    assert "predicted" in text
    assert f"in its snapshot: ['aml_notebook_cell.py', '{INPUTS_FILE}']" in text


def test_run_demos_summarizes_runs_and_fails_on_a_broken_notebook(tmp_path: Path) -> None:
    demos = tmp_path / "demos"
    demos.mkdir()
    good = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "aml", "display_name": "Python 3 (aml)"}}
    )
    good.cells = [
        nbformat.v4.new_code_cell(
            "%%aml_submit -e good --wait\nfrom azureml.core import Run\nRun.get_context().log('score', 0.5)"
        )
    ]
    bad = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "aml", "display_name": "Python 3 (aml)"}}
    )
    bad.cells = [nbformat.v4.new_code_cell("raise ValueError('broken demo')")]
    nbformat.write(good, demos / "a-good.ipynb")
    nbformat.write(bad, demos / "b-bad.ipynb")
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_PATH"}
    done = subprocess.run(
        [sys.executable, str(DEMOS / "run_demos.py"), "--demos", str(demos)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    rows = [line.split() for line in done.stdout.splitlines()]
    good_row = next(r for r in rows if r[:2] == ["a-good.ipynb", "good"])
    assert good_row[2].startswith("good_") and good_row[3:] == ["Completed", "score=0.5"]
    assert ["b-bad.ipynb", "-", "(none)", "-"] in rows
    assert "a-good.ipynb: ok (" in done.stdout
    assert "b-bad.ipynb: FAILED: ValueError: broken demo (" in done.stdout
    assert sorted(p.name for p in demos.iterdir()) == ["a-good.ipynb", "b-bad.ipynb"]


def test_environments(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "05-environments.ipynb", tmp_path)
    nb = execute(
        nbformat.read(tmp_path / "05-environments.ipynb", as_version=4), tmp_path, aml_kernel
    )
    text = outputs_text(nb)
    ws = Workspace(tmp_path)
    runs = list(ws.experiments["environments"].get_runs())
    assert [r.get_status() for r in runs] == [RunStatus.COMPLETED] * 2
    assert all(r.get_metrics() == {"isolated": 1} for r in runs)
    assert "first run: Completed" in text and "built the environment: True" in text
    assert "second run: Completed" in text and "built the environment: False" in text
    assert "six 1.16.0 | pandas hidden: True" in text
    assert "hello from the environment" in text
    assert "six-only" in text  # the %aml_env table


@pytest.mark.timeout(900)  # a Ray head and torch jobs on a busy 2-core machine
def test_compute_targets(aml_kernel: str, tmp_path: Path, ray_machine: None) -> None:
    pytest.importorskip("torch", reason="torch is installed by `make test`")
    pytest.importorskip("ray.job_submission", reason="ray[default] is a dev dependency")
    shutil.copy(DEMOS / "06-compute-targets.ipynb", tmp_path)
    shutil.copytree(DEMOS / "allreduce", tmp_path / "allreduce")
    try:
        nb = execute(
            nbformat.read(tmp_path / "06-compute-targets.ipynb", as_version=4),
            tmp_path,
            aml_kernel,
            timeout=600,  # starting a Ray head, then torch in a Ray job, on a busy CI machine
        )
    finally:
        _stop_processes_in(tmp_path)  # the notebook stops them; this is for a failed cell
    text = outputs_text(nb)
    for target in ("local", "workstation", "ray"):
        assert f"{target}: Completed, sum = 3" in text
    runs = list(Workspace(tmp_path).experiments["allreduce"].get_runs())
    assert sorted(r.get_details()["target"] for r in runs) == ["local", "ray", "workstation"]
    assert all(r.get_metrics() == {"allreduce_sum": 3.0} for r in runs)
    assert "stopped the Ray head and the agent" in text


def _stop_processes_in(folder: Path) -> None:
    """Kill any process still working in ``folder`` (an agent or Ray head a failed cell left)."""
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if os.readlink(entry / "cwd").startswith(str(folder)):
                    os.kill(int(entry.name), signal.SIGKILL)
            except OSError:
                pass


def test_models(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "07-models.ipynb", tmp_path)
    for folder in ("train_iris", "serve_iris"):
        shutil.copytree(DEMOS / folder, tmp_path / folder)
    try:
        nb = execute(
            nbformat.read(tmp_path / "07-models.ipynb", as_version=4), tmp_path, aml_kernel
        )
    finally:
        _stop_processes_in(tmp_path)
    text = outputs_text(nb)
    assert "iris:1 from run" in text
    assert "Healthy" in text and "[0, 2]" in text
    assert "{'species': ['setosa', 'virginica']}" in text
    assert "400 The request body is not JSON" in text
    assert "requests 52, errors 1" in text  # 50, the first call and the refused one
    assert "services left: []" in text


def _docker_ready() -> bool:
    try:
        from aml_jupyter.environments import docker_image as dockerenv

        engine = dockerenv.client(timeout=10)
        return dockerenv._find(engine, dockerenv.DEFAULT_BASE_IMAGE) is not None
    except Exception:  # no SDK, no engine: the ACI-style cell cannot run here
        return False


def _remove_containers_of(folder: Path) -> None:
    """The ACI-style containers a failed cell left (labelled with their workspace)."""
    from aml_jupyter.environments import docker_image as dockerenv
    from aml_jupyter.registry.aci import WORKSPACE_LABEL

    engine = dockerenv.client(timeout=30)
    for container in engine.containers.list(all=True):
        if container.labels.get(WORKSPACE_LABEL, "").startswith(str(folder)):
            container.remove(force=True)


@pytest.mark.timeout(1200)  # a Ray head, a pip environment on it, an image build, on 2 cores
def test_from_azureml_v1(aml_kernel: str, tmp_path: Path, ray_machine: None) -> None:
    pytest.importorskip("ray.job_submission", reason="ray[default] is a dev dependency")
    pytest.importorskip("mlflow", reason="mlflow-skinny is a dev dependency")
    if not _docker_ready():
        pytest.skip("no docker engine or base image (as root, `make docker` makes both)")
    shutil.copy(DEMOS / "08-from-azureml-v1.ipynb", tmp_path)
    shutil.copytree(DEMOS / "v1_project", tmp_path / "v1_project")
    try:
        nb = execute(
            nbformat.read(tmp_path / "08-from-azureml-v1.ipynb", as_version=4),
            tmp_path,
            aml_kernel,
            timeout=900,
        )
    finally:
        from aml_jupyter import ComputeTarget

        ws = Workspace(tmp_path / "v1_project")
        if "cpu-cluster" in ws.compute_targets:  # a failed cell left it: its head stops
            ComputeTarget(workspace=ws, name="cpu-cluster").delete()
        _remove_containers_of(tmp_path)
        _stop_processes_in(tmp_path)
    text = outputs_text(nb)
    assert "Azure ML SDK version:" in text and "iris-workspace\nml-team-rg" in text
    assert "Creating a new compute target..." in text
    (run,) = Workspace(tmp_path / "v1_project").experiments["from-azureml-v1"].get_runs()
    details = run.get_details()
    assert details["status"] == RunStatus.COMPLETED and details["target"] == "cpu-cluster"
    assert details["runDefinition"]["environment"]["name"] == "iris-env"
    metrics = run.get_metrics()
    assert 0.8 < metrics["accuracy"] <= 1 and any(k.startswith("training_") for k in metrics)
    assert "local: {'species': ['setosa', 'virginica']}" in text
    assert "aci: {'species': ['setosa', 'virginica']}" in text
    assert "over HTTP with the key: {'species': ['setosa', 'virginica']}" in text
    assert "done" in text.splitlines()  # the services and the cluster deleted


def test_data(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "09-data.ipynb", tmp_path)
    shutil.copytree(DEMOS / "data_iris", tmp_path / "data_iris")
    nb = execute(nbformat.read(tmp_path / "09-data.ipynb", as_version=4), tmp_path, aml_kernel)
    text = outputs_text(nb)
    assert "dataset iris version 1: 150 rows" in text
    assert "setosa rows: 50" in text
    assert "read: ['iris']" in text and "wrote: ['iris-scored']" in text
    assert "iris-scored files: 1" in text
    assert "trained on {'training': ['iris:1']}" in text
    assert "version 1: " in text and "version 2: 100 rows" in text
    ws = Workspace(tmp_path)
    (run,) = ws.experiments["iris-data"].get_runs()
    assert run.get_status() == RunStatus.COMPLETED and run.get_metrics()["accuracy"] > 0.9
    assert sorted(ws.datasets) == ["iris", "iris-scored"]
    assert ws.datasets["iris"].version == 2


def test_pipelines(aml_kernel: str, tmp_path: Path) -> None:
    shutil.copy(DEMOS / "10-pipelines.ipynb", tmp_path)
    shutil.copytree(DEMOS / "pipeline_steps", tmp_path / "pipeline_steps")
    nb = execute(nbformat.read(tmp_path / "10-pipelines.ipynb", as_version=4), tmp_path, aml_kernel)
    text = outputs_text(nb)
    assert "StepRun( evaluate ) Status: Completed" in text and "accuracy 0." in text
    assert text.count("It was reused") == 3  # the second submit reused every step
    assert "these changed: arguments." in text and "these changed: input prepared." in text
    assert "downloaded/azureml/" in text
    runs = Workspace(tmp_path).experiments["iris-pipeline"].get_runs()
    assert [r.get_status() for r in runs] == [RunStatus.COMPLETED] * 3

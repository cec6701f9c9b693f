"""v1's experiment and run control-plane methods: experiment tags, archiving and listing;
``get_all_logs``, ``get_detailed_status``, ``get_portal_url``, ``take_snapshot``."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from aml_jupyter import AmlError, Experiment, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.tracking.experiment import ViewType
from tests.conftest import write
from tests.notebooks import execute


def test_experiment_tags_are_kept_and_listed_by(ws: Workspace) -> None:
    a, b = Experiment(ws, "a"), Experiment(ws, "b")
    a.tag("team", "vision")
    a.tag("flag")
    a.set_tags({"owner": "me", "team": "nlp"})
    assert Experiment(ws, "a").tags == {"flag": None, "owner": "me", "team": "nlp"}
    a.remove_tags(["flag"])
    a.remove_tags("owner")
    assert a.tags == {"team": "nlp"}
    b.tag("team", "vision")
    assert [e.name for e in Experiment.list(ws, tags="team")] == ["a", "b"]
    assert [e.name for e in Experiment.list(ws, tags={"team": "vision"})] == ["b"]
    assert [e.name for e in Experiment.list(ws, experiment_name="b")] == ["b"]


def test_archived_experiments_leave_the_default_listings(ws: Workspace) -> None:
    a, b = Experiment(ws, "a"), Experiment(ws, "b")
    run = a.start_logging(snapshot_directory=None)
    run.complete()
    a.archive()
    assert a.archived and not b.archived
    assert [e.name for e in Experiment.list(ws)] == ["b"]
    assert [e.name for e in Experiment.list(ws, view_type=ViewType.ARCHIVED_ONLY)] == ["a"]
    assert [e.name for e in Experiment.list(ws, view_type="All")] == ["a", "b"]
    assert list(ws.experiments) == ["b"]
    assert [r.id for r in a.get_runs()] == [run.id]  # its runs stay
    with pytest.raises(AmlError, match="keeps its name"):
        a.reactivate(new_name="c")
    a.reactivate()
    assert list(ws.experiments) == ["a", "b"]
    with pytest.raises(AmlError, match="view_type='Everything'"):
        Experiment.list(ws, view_type="Everything")


def test_get_all_logs_and_detailed_status(exp: Experiment, project: Path, tmp_path: Path) -> None:
    write(project, "fail.py", "print('about to fail'); raise SystemExit(3)")
    run = exp.submit(ScriptRunConfig(project, "fail.py"))
    run.wait_for_completion(raise_on_error=False)
    status = run.get_detailed_status()
    assert status["status"] == RunStatus.FAILED and status["details"].startswith("The run failed.")
    written = run.get_all_logs(destination=tmp_path / "logs")
    assert str(tmp_path / "logs" / "user_logs" / "std_log.txt") in written
    assert "about to fail" in (tmp_path / "logs" / "user_logs" / "std_log.txt").read_text()
    assert all(Path(p).is_file() for p in written)
    os.chdir(tmp_path)
    assert Path(run.get_all_logs()[0]).parts[0] == run.id  # default: a folder named as the run


def test_take_snapshot_of_a_file_and_of_a_folder(
    exp: Experiment, project: Path, tmp_path: Path
) -> None:
    write(project, "a.py", "A = 1")
    write(project, "b.py", "B = 2")
    run = exp.start_logging(snapshot_directory=None)
    assert run.get_snapshot_id() is None
    first = run.take_snapshot(project / "a.py")
    assert run.get_snapshot_id() == first and run.get_properties()["ContentSnapshotId"] == first
    second = run.take_snapshot(project)
    assert second != first and run.get_snapshot_id() == first  # the run keeps its first
    restored = Path(run.restore_snapshot(path=tmp_path / "one"))
    assert sorted(p.name for p in restored.iterdir()) == ["a.py"]
    both = Path(run.restore_snapshot(second, tmp_path / "two"))
    assert sorted(p.name for p in both.iterdir()) == ["a.py", "b.py"]
    with pytest.raises(AmlError, match="is no file or folder"):
        run.take_snapshot(tmp_path / "missing")
    run.complete()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def jupyter_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict]:
    """A real ``jupyter server`` serving ``tmp_path``; its info file, once it wrote one."""
    runtime = tmp_path / "runtime"
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(runtime))
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "jupyter",
            "server",
            "--no-browser",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--allow-root",
            f"--ServerApp.root_dir={tmp_path}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "server.log", "wb"),  # noqa: SIM115 (closed with the process)
    )
    try:
        deadline = time.monotonic() + 60
        info_file = runtime / f"jpserver-{proc.pid}.json"
        while not info_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError((tmp_path / "server.log").read_text()[-3000:])
            time.sleep(0.1)
        while True:
            try:
                yield json.loads(info_file.read_text())
                break
            except ValueError:  # caught it half-written
                time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_get_portal_url_without_a_server_says_how_to_open_the_run(
    exp: Experiment, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(tmp_path / "no-server"))
    run = exp.start_logging(snapshot_directory=None)
    answer = run.get_portal_url()
    assert answer.startswith("No running Jupyter server") and f"aml run show {run.id}" in answer
    run.complete()


def test_get_portal_url_links_the_run_panel_of_the_running_server(
    exp: Experiment, jupyter_server: dict
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    url = run.get_portal_url()
    assert url == f"{jupyter_server['url']}lab?aml-run={run.id}"
    assert jupyter_server["token"] not in url  # the link carries no secret
    request = urllib.request.Request(
        url, headers={"Authorization": f"token {jupyter_server['token']}"}
    )
    with urllib.request.urlopen(request, timeout=30) as page:  # the server serves that page
        assert page.status == 200
    run.complete()


def test_get_portal_url_behind_jupyterhub_is_the_address_users_reach(
    exp: Experiment, jupyter_server: dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    # What JupyterHub gives a single-user server it spawned (the server itself listens inside).
    monkeypatch.setenv("JUPYTERHUB_PUBLIC_URL", "https://hub.example.org/")
    monkeypatch.setenv("JUPYTERHUB_SERVICE_PREFIX", "/user/ada/")
    assert run.get_portal_url() == f"https://hub.example.org/user/ada/lab?aml-run={run.id}"
    monkeypatch.setenv("JUPYTERHUB_HOST", "https://ada.hub.example.org")  # subdomains
    assert run.get_portal_url().startswith("https://ada.hub.example.org/user/ada/lab?")
    monkeypatch.setenv("AML_JUPYTER_PUBLIC_URL", "https://proxy.example.org/jupyter")
    assert run.get_portal_url() == f"https://proxy.example.org/jupyter/lab?aml-run={run.id}"
    monkeypatch.delenv("AML_JUPYTER_PUBLIC_URL")
    monkeypatch.setenv("JUPYTERHUB_HOST", "")  # no subdomains, no public URL: the server's own
    monkeypatch.delenv("JUPYTERHUB_PUBLIC_URL")
    assert run.get_portal_url() == f"{jupyter_server['url']}lab?aml-run={run.id}"
    run.complete()


def test_a_v1_notebook_tags_archives_and_reads_its_runs(aml_kernel: str, tmp_path: Path) -> None:
    Workspace.create(tmp_path)
    write(tmp_path, "train.py", "from azureml.core import Run\nRun.get_context().log('acc', 0.9)\n")
    source = """
from azureml.core import Workspace, Experiment, ScriptRunConfig
ws = Workspace.from_config()
exp = Experiment(ws, 'v1-nb')
exp.tag('stage', 'dev')
parent = exp.start_logging(snapshot_directory=None)
child = parent.submit_child(ScriptRunConfig('.', 'train.py'), tags={'kind': 'child'})
child.wait_for_completion()
parent.take_snapshot('train.py')
parent.complete()
print('status', child.get_detailed_status()['status'], child.get_metrics()['acc'])
print('logs', len(child.get_all_logs(destination='logs')) > 0)
exp.archive()
print('listed', [e.name for e in Experiment.list(ws, view_type='ArchivedOnly', tags={'stage': 'dev'})])
"""
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source)]
    execute(nb, tmp_path, aml_kernel, timeout=180)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "status Completed 0.9" in text
    assert "logs True" in text
    assert "listed ['v1-nb']" in text

"""Local scoring services: real processes on 127.0.0.1 answering real HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from aml_jupyter import (
    AmlError,
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.store import open_store
from aml_jupyter.store.database import _statements
from aml_jupyter.store.schema import MIGRATIONS
from tests.conftest import write

pytest.importorskip("sklearn", reason="the scikit-learn model needs the lab extra")

TRAIN = """
    import os, joblib
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression
    from azureml.core import Run
    X, y = load_iris(return_X_y=True)
    model = LogisticRegression(max_iter=500).fit(X, y)
    os.makedirs("outputs", exist_ok=True)
    joblib.dump(model, "outputs/model.joblib")
    Run.get_context().log("accuracy", model.score(X, y))
"""

SCORE = """
    import json, os
    from azureml.core.model import Model

    def init():
        global model
        import joblib
        model = joblib.load(Model.get_model_path("iris"))
        print("init in", os.environ["AZUREML_MODEL_DIR"], flush=True)

    def run(raw_data):
        data = json.loads(raw_data)
        if data.get("explode"):
            raise RuntimeError("asked to explode")
        return {"predictions": model.predict(data["data"]).tolist(), "pid": os.getpid()}
"""

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3]]


@pytest.fixture
def iris(exp: Experiment, project: Path) -> Model:
    write(project, "train.py", TRAIN)
    run = exp.submit(ScriptRunConfig(project, "train.py"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    return run.register_model("iris", "outputs/model.joblib", model_framework="ScikitLearn")


@pytest.fixture(autouse=True)
def no_service_left(ws: Workspace) -> Iterator[None]:
    yield
    for service in LocalWebservice.list(ws):
        service.delete()


def _post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _group(pgid: int) -> list[int]:
    """The live processes of process group ``pgid`` (a zombie is only an exit status left for
    its parent to read: it runs nothing and holds no port)."""
    members = []
    for p in psutil.process_iter():
        try:
            if os.getpgid(p.pid) == pgid and p.status() != psutil.STATUS_ZOMBIE:
                members.append(p.pid)
        except (psutil.Error, ProcessLookupError):
            pass  # ended while we looked
    return members


def _leader(service: LocalWebservice) -> int:
    pid, _ = service.workspace.store.service_folder(service.name).read_pid()
    assert pid is not None
    return pid


def test_no_code_scikit_learn_deployment(ws: Workspace, iris: Model) -> None:
    service = Model.deploy(ws, "iris-nocode", [iris])
    assert service.state == "Healthy"
    assert service.run({"data": ROWS}) == [0, 2]
    status, body = _post(service.scoring_uri, json.dumps({"data": ROWS}).encode())
    assert (status, body) == (200, [0, 2])
    assert _post(service.scoring_uri, b"{not json")[0] == 400
    status, body = _post(service.scoring_uri, json.dumps({"data": [[1.0, 2.0]]}).encode())
    assert status == 400 and "Wrong input" in body["error"]  # 2 features, the model wants 4
    status, body = _post(service.scoring_uri, json.dumps({"rows": ROWS}).encode())
    assert status == 400 and '{"data"' in body["error"]
    with urllib.request.urlopen(service.swagger_uri, timeout=10) as r:
        assert "/score" in json.loads(r.read())["paths"]
    stats = service.get_stats()
    assert stats["requests"] == 5 and stats["errors"] == 3 and stats["by_status"]["400"] == 3
    assert stats["p50_ms"] is not None and stats["p95_ms"] >= stats["p50_ms"]
    # A model a running service uses cannot be deleted.
    with pytest.raises(AmlError, match=r"served by running service.*iris-nocode"):
        iris.delete()
    pid = _leader(service)
    service.delete()
    assert not service.folder.exists() and LocalWebservice.list(ws) == []
    assert ws.store.get_service("iris-nocode") is None  # the record is gone with the folder
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # stopped; this test process reaps it in the background
    assert not Path(f"/proc/{pid}").exists()
    iris.delete()


def test_entry_script_deployment_with_workers(ws: Workspace, iris: Model, project: Path) -> None:
    write(project / "serve", "score.py", SCORE)
    config = InferenceConfig(entry_script="score.py", source_directory=project / "serve")
    service = Model.deploy(
        ws, "iris-svc", [iris], config, LocalWebservice.deploy_configuration(workers=2)
    )
    pids = set()
    deadline = time.monotonic() + 30  # the second worker may still be loading its model
    while len(pids) < 2 and time.monotonic() < deadline:
        answer = service.run(json.dumps({"data": ROWS}))
        assert answer["predictions"] == [0, 2]
        pids.add(answer["pid"])
    assert len(pids) == 2  # both workers took requests
    # An exception in run(): 500 with the error, logged; the service stays up.
    with pytest.raises(AmlError, match="500: RuntimeError: asked to explode"):
        service.run({"explode": True, "data": ROWS})
    assert "asked to explode" in service.get_logs()
    assert "init in" in service.get_logs() and service.run({"data": ROWS})["predictions"]
    # reload() picks up an edited entry script.
    write(project / "serve", "score.py", SCORE.replace('"pid": os.getpid()', '"pid": -1'))
    service.reload()
    assert service.run({"data": ROWS})["pid"] == -1
    assert LocalWebservice(ws, "iris-svc").models == ["iris:1"]


def test_bad_deployments_are_refused_and_leave_nothing(
    ws: Workspace, iris: Model, project: Path
) -> None:
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    port = busy.getsockname()[1]
    try:
        with pytest.raises(AmlError, match=f"Port {port} is in use"):
            Model.deploy(ws, "svc", [iris], None, LocalWebservice.deploy_configuration(port=port))
    finally:
        busy.close()
    with pytest.raises(AmlError, match=r"entry script 'nope\.py' was not found"):
        Model.deploy(ws, "svc", [iris], InferenceConfig("nope.py", source_directory=project))
    write(project / "bad", "score.py", "def init():\n    raise ValueError('no model here')\n"
          "def run(raw):\n    return raw\n")  # fmt: skip
    with pytest.raises(AmlError, match="failed to start: ValueError: no model here"):
        Model.deploy(
            ws, "svc", [iris], InferenceConfig("score.py", source_directory=project / "bad")
        )
    plain = Model.register(ws, write(project, "plain.txt", "x"), "plain")
    with pytest.raises(AmlError, match="only one scikit-learn model"):
        Model.deploy(ws, "svc", [plain])
    with pytest.raises(AmlError, match="workers"):
        LocalWebservice.deploy_configuration(workers=0)
    assert LocalWebservice.list(ws) == [] and ws.store.list_services() == []
    root = ws.store.service_folder("svc").root.parent  # no service, no staging folder left
    assert not root.exists() or list(root.iterdir()) == []


def test_cli_and_magic_deploy_list_logs_delete(
    ws: Workspace, iris: Model, capsys: pytest.CaptureFixture[str]
) -> None:
    from IPython import get_ipython
    from IPython.testing.globalipapp import start_ipython

    from aml_jupyter.frontends.cli.main import main as aml

    w = ["-w", str(ws.folder)]
    assert aml(["service", "deploy", "cli-svc", "iris:1", *w]) == 0
    uri = capsys.readouterr().out.strip()
    assert _post(uri, json.dumps({"data": ROWS}).encode()) == (200, [0, 2])
    assert aml(["service", "list", "--json", *w]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["name"] == "cli-svc" and row["state"] == "Healthy" and row["requests"] == 1
    assert aml(["service", "show", "cli-svc", *w]) == 0
    assert json.loads(capsys.readouterr().out)["stats"]["by_status"] == {"200": 1}
    assert aml(["service", "logs", "cli-svc", *w]) == 0
    assert "ready on port" in capsys.readouterr().out
    assert aml(["service", "deploy", "cli-svc", "iris", *w]) == 2  # exists: --overwrite
    assert "overwrite" in capsys.readouterr().err
    assert aml(["service", "delete", "cli-svc", *w]) == 0
    assert LocalWebservice.list(ws) == []
    ip = start_ipython() or get_ipython()  # one shell per process: a later call gets None
    assert ip is not None
    ip.run_line_magic("load_ext", "aml_jupyter")
    service = ip.run_line_magic("aml_deploy", f"magic-svc iris -w {ws.folder}")
    assert service.run({"data": ROWS}) == [0, 2]
    assert ip.run_line_magic("aml_deploy", f"x nosuchmodel -w {ws.folder}") is None
    assert "No model 'nosuchmodel'" in capsys.readouterr().err


def test_a_service_in_its_own_environment(ws: Workspace, project: Path) -> None:
    from aml_jupyter import Environment

    model = Model.register(ws, write(project, "weights.txt", "w-42"), "tiny")
    write(
        project / "serve",
        "score.py",
        """
        import os, sys
        import six
        from azureml.core.model import Model

        def init():
            global weights
            weights = open(Model.get_model_path("tiny")).read()

        def run(raw_data):
            try:
                import pandas  # noqa: F401  (this kernel has it; the environment does not)
                hidden = False
            except ImportError:
                hidden = True
            return {"weights": weights, "six": six.__version__, "pandas_hidden": hidden,
                    "python": sys.executable, "greeting": os.environ["GREETING"]}
        """,
    )
    env = Environment("serve-six")
    env.python.conda_dependencies.add_pip_package("six==1.16.0")
    env.environment_variables["GREETING"] = "hello"
    config = InferenceConfig("score.py", source_directory=project / "serve", environment=env)
    service = Model.deploy(ws, "tiny-svc", [model], config)
    answer = service.run({})
    assert answer["weights"] == "w-42" and answer["six"] == "1.16.0"
    assert answer["pandas_hidden"] is True and answer["greeting"] == "hello"
    assert str(ws.folder / "envs") in answer["python"]  # the cached virtualenv's Python


BLOCKING = """
    import json, os, time
    from pathlib import Path

    def init():
        pass

    def run(raw_data):
        data = json.loads(raw_data)
        if "started" in data:  # tell the test it is running, then wait for its go
            Path(data["started"]).touch()
            deadline = time.monotonic() + 120
            while not Path(data["release"]).exists() and time.monotonic() < deadline:
                time.sleep(0.01)
        return {"pid": os.getpid(), "size": len(raw_data)}
"""


def test_killed_workers_are_replaced_for_as_long_as_the_service_lives(
    ws: Workspace, project: Path
) -> None:
    model = Model.register(ws, write(project, "weights.txt", "w"), "tiny")
    write(project / "serve", "score.py", BLOCKING)
    config = InferenceConfig("score.py", source_directory=project / "serve")
    service = Model.deploy(
        ws, "svc", [model], config, LocalWebservice.deploy_configuration(workers=2)
    )
    leader, port = _leader(service), service.port
    answered = 0

    def score() -> int | None:
        """The pid of the worker that answered, None if a connection was cut by the kill."""
        nonlocal answered
        try:
            pid = int(service.run({})["pid"])
        except AmlError:
            return None
        answered += 1
        return pid

    seen: set[int] = set()
    deadline = time.monotonic() + 60
    while len(seen) < 2:  # both workers answer (the second may still be starting)
        assert time.monotonic() < deadline, service.get_logs(30)
        if (pid := score()) is not None:
            seen.add(pid)
    victim = pid
    # More kills than tornado's fork_processes took (it gave up after 3 restarts). Each time
    # the newest worker dies: one slot fails again and again, so its restarts back off.
    for _ in range(6):
        assert os.getpgid(victim) == leader  # a worker of this service, not something else
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while (pid := score()) in seen or pid is None:
            assert time.monotonic() < deadline, f"no new worker answered:\n{service.get_logs(30)}"
            time.sleep(0.05)
        assert pid is not None
        seen.add(pid)
        victim = pid
    assert service.state == "Healthy"
    assert "restarting" in service.get_logs()  # the supervisor says why a worker came back
    # Every answer was counted once, including those of workers that were killed since.
    stats = service.get_stats()
    assert stats["by_status"] == {"200": answered} and stats["requests"] == answered
    assert len(_group(leader)) >= 3  # the supervisor and its 2 workers
    service.delete()
    assert _group(leader) == []  # delete() returns once the whole group is gone
    # The port is free again: a service deploys on it at once.
    service = Model.deploy(
        ws, "svc", [model], config, LocalWebservice.deploy_configuration(port, workers=2)
    )
    assert service.port == port and service.run({})["pid"] in _group(_leader(service))
    # A killed supervisor: the service is Failed (not Healthy through a leftover worker), and
    # delete() still ends the workers it left.
    leader = _leader(service)
    os.kill(leader, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while service.state != "Failed":
        assert time.monotonic() < deadline, service.state
        time.sleep(0.05)
    service.delete()
    assert _group(leader) == []


@pytest.fixture
def blocking(ws: Workspace, project: Path) -> LocalWebservice:
    """A one-worker service whose run() waits for a file when asked to."""
    model = Model.register(ws, write(project, "weights.txt", "w"), "tiny")
    write(project / "serve", "score.py", BLOCKING)
    return Model.deploy(
        ws, "slow-svc", [model], InferenceConfig("score.py", source_directory=project / "serve")
    )


def test_health_answers_while_run_blocks(blocking: LocalWebservice, tmp_path: Path) -> None:
    started, release = tmp_path / "started", tmp_path / "release"
    answers: list[Any] = []
    request = {"started": str(started), "release": str(release)}
    scoring = threading.Thread(target=lambda: answers.append(blocking.run(request)))
    scoring.start()
    try:
        deadline = time.monotonic() + 30
        while not started.exists():
            assert time.monotonic() < deadline and scoring.is_alive(), blocking.get_logs()
            time.sleep(0.02)
        # run() is now busy in the only worker; the health route answers anyway.
        with urllib.request.urlopen(f"http://127.0.0.1:{blocking.port}/", timeout=10) as r:
            assert r.status == 200 and json.loads(r.read())["status"] == "Healthy"
        assert blocking.state == "Healthy"
        assert scoring.is_alive() and not answers  # the score request is still in flight
    finally:
        release.touch()
        scoring.join(60)
    assert not scoring.is_alive() and answers[0]["pid"] > 0


def test_too_deep_or_too_big_bodies_get_4xx(
    ws: Workspace, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AML_SERVICE_MAX_BODY_BYTES", "300000")
    model = Model.register(ws, write(project, "weights.txt", "w"), "tiny")
    write(project / "serve", "score.py", BLOCKING)
    service = Model.deploy(
        ws, "echo-svc", [model], InferenceConfig("score.py", source_directory=project / "serve")
    )
    deep = b"[" * 100_000 + b"]" * 100_000  # 200 kB, under the limit
    status, body = _post(service.scoring_uri, deep)
    assert status == 400 and "nested too deeply" in body["error"]
    status, body = _post(service.scoring_uri, b'{"x": "' + b"y" * 400_000 + b'"}')
    assert status == 413 and "at most 300000 bytes" in body["error"]
    assert "AML_SERVICE_MAX_BODY_BYTES" in body["error"]
    under = b'{"x": "' + b"y" * 299_000 + b'"}'
    status, body = _post(service.scoring_uri, under)
    assert status == 200 and body["size"] == len(under)  # just under the limit: scored
    with pytest.raises(AmlError, match="413"):
        service.run({"x": "y" * 400_000})
    assert service.get_stats()["by_status"] == {"400": 1, "413": 2, "200": 1}
    with pytest.raises(AmlError, match="AML_SERVICE_MAX_BODY_BYTES"):
        monkeypatch.setenv("AML_SERVICE_MAX_BODY_BYTES", "lots")
        Model.deploy(
            ws, "bad-limit", [model], InferenceConfig("score.py", source_directory=project)
        )


def test_a_source_folder_holding_the_workspace_is_copied_without_it(
    ws: Workspace, iris: Model, tmp_path: Path
) -> None:
    """No source_directory, in the folder that holds the workspace (cwd): issue 12's bug."""
    write(tmp_path, "score.py", SCORE)
    assert Path.cwd() == tmp_path and (tmp_path / ".aml").is_dir()
    service = Model.deploy(ws, "here-svc", [iris], InferenceConfig(entry_script="score.py"))
    assert service.run({"data": ROWS})["predictions"] == [0, 2]
    source = ws.store.service_folder("here-svc").source_folder
    assert (source / "score.py").is_file() and not (source / ".aml").exists()
    service.reload()
    assert not (source / ".aml").exists() and service.run({"data": ROWS})["predictions"]
    write(tmp_path, "bad.py", "def init():\n    raise ValueError('no')\n")
    with pytest.raises(AmlError, match="no"):
        Model.deploy(ws, "bad-svc", [iris], InferenceConfig(entry_script="bad.py"))
    services = ws.store.service_folder("here-svc").root.parent
    assert sorted(p.name for p in services.iterdir()) == ["here-svc"]  # no .incoming left
    assert [r.name for r in ws.store.list_services()] == ["here-svc"]


# workspaces from before services were store records ---------------------------------------
def _workspace_before_service_records(folder: Path) -> None:
    """A workspace database as the code before service records left it: every migration
    before the one that made the services table."""
    first_new = next(i for i, m in enumerate(MIGRATIONS) if "CREATE TABLE services" in m)
    folder.mkdir(parents=True)
    conn = sqlite3.connect(folder / "aml.db")
    for migration in MIGRATIONS[:first_new]:
        for statement in _statements(migration):
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {first_new}")
    conn.commit()
    conn.close()


def test_services_deployed_by_the_old_layout_are_found_and_run(
    tmp_path: Path, project: Path
) -> None:
    folder = tmp_path / "old" / ".aml"
    _workspace_before_service_records(folder)
    services = folder / "services"  # the layout the old code wrote
    live = services / "old-svc"
    write(project / "serve", "score.py", BLOCKING)
    write(live / "source", "score.py", BLOCKING)
    write(live / "models" / "tiny" / "1", "weights.txt", "w")
    write(live, "service.log", "a line the old service wrote\n")
    port = free_port()
    spec = {
        "name": "old-svc",
        "port": port,
        "workers": 1,
        "models": ["tiny:1"],
        "model_dir": str(live / "models" / "tiny" / "1"),
        "entry_script": "score.py",
        "source_directory": str(live / "source"),
        "source_origin": str(project / "serve"),
        "no_code_model_file": None,
        "max_body_bytes": 1024,
        "python": sys.executable,
        "created_utc": 1_700_000_000.0,
    }
    write(live, "service.json", json.dumps(spec, indent=2))
    write(services / "broken", "service.json", '{"name": "broken", "port": ')  # cut short
    write(services / ".half.incoming", "service.json", json.dumps({**spec, "name": "half"}))

    ws = Workspace(folder)
    try:
        (record,) = ws.store.list_services()  # the broken one and the staging one skipped
        assert (record.name, record.created_utc) == ("old-svc", 1_700_000_000.0)
        assert record.spec["port"] == port and "created_utc" not in record.spec
        service = LocalWebservice(ws, "old-svc")
        assert service.models == ["tiny:1"] and service.state == "Failed"  # nothing runs it
        assert "a line the old service wrote" in service.get_logs()
        with pytest.raises(AmlError, match=r"No service 'broken'.*Services: old-svc\."):
            LocalWebservice(ws, "broken")
        service.reload()  # started by this version, from its record
        assert service.state == "Healthy" and service.run({})["size"] == 2
        assert service.get_stats()["by_status"] == {"200": 1}
        # The import is done once: a service.json written now is no longer a service.
        write(services / "late", "service.json", json.dumps({**spec, "name": "late"}))
        reopened = open_store(folder)
        assert [r.name for r in reopened.list_services()] == ["old-svc"]
        reopened.close()
        # The folder with the unreadable spec is refused, unless told to replace it.
        model = Model.register(ws, write(project, "weights.txt", "w"), "tiny")
        config = InferenceConfig("score.py", source_directory=project / "serve")
        with pytest.raises(AmlError, match=r"spec cannot be read.*overwrite=True"):
            Model.deploy(ws, "broken", [model], config)
        replaced = Model.deploy(ws, "broken", [model], config, overwrite=True)
        assert replaced.run({})["size"] == 2
        assert [s.name for s in LocalWebservice.list(ws)] == ["broken", "old-svc"]
    finally:
        for running in LocalWebservice.list(ws):
            running.delete()
    assert ws.store.list_services() == [] and not live.exists()

"""The REST API of the server extension, through a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml
from conftest import wait_status, write
from tornado.httpclient import HTTPClientError

from aml_jupyter import Experiment, Run, RunStatus, ScriptRunConfig, Workspace
from aml_jupyter.frontends.jupyter import handlers


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


async def get(jp_fetch: Any, *path: str, **params: Any) -> Any:
    response = await jp_fetch("aml", "api", *path, params=params or None)
    assert response.headers["Content-Type"].startswith("application/json")
    return json.loads(response.body)


async def refused(jp_fetch: Any, *path: str, method: str = "GET", **kw: Any) -> tuple[int, Any]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("aml", "api", *path, method=method, **kw)
    response = info.value.response
    assert response is not None
    return info.value.code, json.loads(response.body)


def finished_run(exp: Experiment, name: str, metrics: dict[str, float], **tags: str) -> Run:
    run = exp.start_logging(display_name=name, snapshot_directory=None)
    for key, value in metrics.items():
        run.log(key, value)
    if tags:
        run.set_tags(tags)
    run.complete()
    return run


# the workspace ---------------------------------------------------------------------------------
async def test_no_workspace_says_how_to_make_one_and_a_new_one_appears(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    answer = await get(jp_fetch, "workspace")
    assert answer["workspace"] is None
    assert "No AML workspace" in answer["message"]
    assert answer["fix"].startswith(f"aml workspace create {jp_root_dir.resolve()}")
    code, body = await refused(jp_fetch, "runs")
    assert code == 404
    assert body["reason"] == "no-workspace"
    assert "aml workspace create" in body["fix"]

    ws = Workspace.create(jp_root_dir)
    answer = await get(jp_fetch, "workspace")
    assert answer["workspace"] == {"name": ws.name, "folder": str(ws.folder)}
    assert (await get(jp_fetch, "runs"))["runs"] == []


async def test_the_first_run_state_creates_the_workspace_in_the_root_folder(
    jp_fetch: Any, jp_root_dir: Path
) -> None:
    assert (await get(jp_fetch, "workspace"))["workspace"] is None
    response = await jp_fetch("aml", "api", "workspace", method="POST", body=b"")
    answer = json.loads(response.body)
    folder = jp_root_dir.resolve() / ".aml"
    assert answer["workspace"] == {"name": Workspace(folder).name, "folder": str(folder)}
    assert (await get(jp_fetch, "workspace"))["workspace"]["folder"] == str(folder)
    assert (await get(jp_fetch, "runs"))["runs"] == []
    # A second click changes nothing and says where the workspace is.
    code, body = await refused(jp_fetch, "workspace", method="POST", body=b"")
    assert code == 409
    assert body["reason"] == "workspace-exists" and str(folder) in body["message"]


@pytest.fixture
def other_ws(tmp_path: Path) -> Workspace:
    return Workspace.create(tmp_path / "elsewhere")


async def test_the_setting_and_the_environment_choose_the_workspace(
    jp_fetch: Any, other_ws: Workspace, ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The root folder lies inside `ws`: found from the root upwards by default.
    assert (await get(jp_fetch, "workspace"))["workspace"]["folder"] == str(ws.folder)
    monkeypatch.setenv("AML_WORKSPACE", str(other_ws.folder))
    assert (await get(jp_fetch, "workspace"))["workspace"]["folder"] == str(other_ws.folder)


def test_the_amljupyter_workspace_setting_wins(ws: Workspace, tmp_path: Path) -> None:
    from traitlets.config import Config

    from aml_jupyter.frontends.jupyter import AmlJupyter
    from aml_jupyter.frontends.jupyter.service import WorkspaceService

    configured = Workspace.create(tmp_path / "configured")
    settings = AmlJupyter(config=Config({"AmlJupyter": {"workspace": str(configured.folder)}}))
    service = WorkspaceService(tmp_path, settings.workspace)
    assert service.workspace_info()["workspace"]["folder"] == str(configured.folder)
    missing = WorkspaceService(tmp_path, str(tmp_path / "nowhere")).workspace_info()
    assert missing["workspace"] is None
    assert "holds no workspace" in missing["message"]


async def test_experiments_and_compute(jp_fetch: Any, ws: Workspace) -> None:
    a, b = Experiment(ws, "alpha"), Experiment(ws, "beta")
    for i in range(3):
        finished_run(a, f"a{i}", {})
    last = finished_run(b, "b0", {})
    answer = await get(jp_fetch, "experiments")
    counts = {e["name"]: e["run_count"] for e in answer["experiments"]}
    assert counts == {"alpha": 3, "beta": 1}
    beta = next(e for e in answer["experiments"] if e["name"] == "beta")
    assert beta["last_run_utc"] == pytest.approx(last._row().created_utc)
    a.archive()  # hidden unless asked for, as v1's Experiment.list
    assert [e["name"] for e in (await get(jp_fetch, "experiments"))["experiments"]] == ["beta"]
    every = await get(jp_fetch, "experiments", view_type="all")
    assert {e["name"]: e["archived"] for e in every["experiments"]} == {
        "alpha": True,
        "beta": False,
    }
    only = await get(jp_fetch, "experiments", view_type="ARCHIVED_ONLY")
    assert [e["name"] for e in only["experiments"]] == ["alpha"]
    code, error = await refused(jp_fetch, "experiments", params={"view_type": "deleted"})
    assert code == 400 and "ViewType.ALL" in error["message"]
    targets = (await get(jp_fetch, "compute"))["targets"]
    assert {"name": "local", "type": "local", "address": None, "status": "Succeeded"} in targets


async def test_models_and_services(jp_fetch: Any, ws: Workspace, tmp_path: Path) -> None:
    from aml_jupyter import Model

    (tmp_path / "m.bin").write_bytes(b"weights")
    Model.register(ws, tmp_path / "m.bin", "m", tags={"stage": "dev"})
    Model.register(ws, tmp_path / "m.bin", "m")
    listed = (await get(jp_fetch, "models"))["models"]
    assert [m["id"] for m in listed] == ["m:2", "m:1"]
    assert [m["id"] for m in (await get(jp_fetch, "models", latest="1"))["models"]] == ["m:2"]
    one = await get(jp_fetch, "models", "m", "1")
    assert one["tags"] == {"stage": "dev"} and one["files"] == ["m.bin"]
    status, body = await refused(jp_fetch, "models", "m", "9")
    assert status == 404 and body["reason"] == "no-model"
    assert (await get(jp_fetch, "services")) == {"services": []}


# listing -------------------------------------------------------------------------------------
async def test_runs_page_filter_sort_and_count(jp_fetch: Any, ws: Workspace) -> None:
    train, tune = Experiment(ws, "train"), Experiment(ws, "tune")
    made = [
        finished_run(
            train if i % 2 else tune, f"model-{i}", {"acc": i / 10}, team="red" if i < 3 else "blue"
        )
        for i in range(7)
    ]
    failing = train.start_logging(display_name="broken_100%", snapshot_directory=None)
    failing.fail()

    page = await get(jp_fetch, "runs", limit=3)
    assert page["total"] == 8
    assert [r["id"] for r in page["runs"]] == [failing.id, made[6].id, made[5].id]
    second = await get(jp_fetch, "runs", limit=3, offset=3)
    assert [r["id"] for r in second["runs"]] == [m.id for m in made[4:1:-1]]
    row = second["runs"][0]
    assert row["metrics"] == {"acc": 0.4}
    assert row["tags"] == {"team": "blue"}
    assert row["status"] == "Completed"
    assert row["experiment"] == "tune"
    assert row["duration_s"] >= 0

    oldest = await get(jp_fetch, "runs", order="asc", limit=1)
    assert oldest["runs"][0]["id"] == made[0].id
    only_train = await get(jp_fetch, "runs", experiment="train")
    assert {r["id"] for r in only_train["runs"]} == {made[i].id for i in (1, 3, 5)} | {failing.id}
    assert only_train["total"] == 4
    red = await get(jp_fetch, "runs", tag="team=red")
    assert {r["id"] for r in red["runs"]} == {m.id for m in made[:3]}
    failed = await get(jp_fetch, "runs", status="failed,canceled")
    assert [r["id"] for r in failed["runs"]] == [failing.id]
    # Text: part of a name, any case; the user's % is matched literally.
    assert [r["id"] for r in (await get(jp_fetch, "runs", q="MODEL-5"))["runs"]] == [made[5].id]
    assert [r["id"] for r in (await get(jp_fetch, "runs", q="100%"))["runs"]] == [failing.id]
    assert (await get(jp_fetch, "runs", q="_100"))["total"] == 1
    assert (await get(jp_fetch, "runs", q="blue"))["total"] == 4  # a tag value
    assert (await get(jp_fetch, "runs", q="no such thing"))["runs"] == []
    # A page past the end is empty but still counts.
    beyond = await get(jp_fetch, "runs", offset=50)
    assert beyond["runs"] == [] and beyond["total"] == 8


async def test_bad_listing_arguments_are_400_with_the_reason(jp_fetch: Any, ws: Workspace) -> None:
    for params, words in [
        ({"limit": "0"}, "limit must be 1 to 500"),
        ({"limit": "many"}, "whole number"),
        ({"offset": "-1"}, "offset must be 0 or more"),
        ({"status": "Done"}, "not a run status"),
        ({"sort": "name"}, "Cannot sort runs"),
        ({"order": "up"}, "order must be"),
        ({"tag": "=x"}, "has no key"),
    ]:
        code, body = await refused(jp_fetch, "runs", params=params)
        assert code == 400, params
        assert words in body["message"], (params, body)


async def test_a_live_run_shows_its_latest_metrics(jp_fetch: Any, exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    for step in range(5):
        run.log("loss", 1 / (step + 1), step=step)
    row = (await get(jp_fetch, "runs"))["runs"][0]
    assert row["status"] == "Running"
    assert row["metrics"] == {"loss": 0.2}
    run.complete()


POINTS = 100_000


async def test_a_long_metric_is_downsampled_for_the_first_view_and_exact_when_zoomed(
    jp_fetch: Any, exp: Experiment
) -> None:
    import math

    run = exp.start_logging(snapshot_directory=None)
    # A noisy curve with one spike and one dip far from the ends: a chart must show both.
    values = [math.sin(i / 500) + 0.01 * ((i * 7919) % 13) for i in range(POINTS)]
    values[31_337], values[77_777] = 50.0, -50.0
    for value in values:
        run.log("loss", value)
    run.log("lr", 0.1, step=0)
    run.log_row("table", epoch=1)

    answer = await get(jp_fetch, "runs", run.id, "metrics", points="500")
    loss = answer["scalars"]["loss"]
    assert loss["downsampled"] is True and loss["count"] == POINTS
    assert len(loss["values"]) == len(loss["steps"]) == len(loss["times"]) <= 500
    # The first and last points exact, every step given (the client can no longer count).
    assert (loss["steps"][0], loss["values"][0]) == (0, values[0])
    assert (loss["steps"][-1], loss["values"][-1]) == (POINTS - 1, values[-1])
    assert loss["steps"] == sorted(loss["steps"])
    assert all(values[s] == v for s, v in zip(loss["steps"], loss["values"], strict=True))
    # The series' extremes are kept, where they were.
    assert max(loss["values"]) == 50.0 and loss["steps"][loss["values"].index(50.0)] == 31_337
    assert min(loss["values"]) == -50.0 and loss["steps"][loss["values"].index(-50.0)] == 77_777
    assert answer["scalars"]["lr"] == {
        "steps": [0],
        "values": [0.1],
        "times": answer["scalars"]["lr"]["times"],
        "count": 1,
        "downsampled": False,
    }
    assert [p["value"] for p in answer["others"]] == [{"epoch": 1}]
    default = (await get(jp_fetch, "runs", run.id, "metrics"))["scalars"]["loss"]
    assert 500 < len(default["values"]) <= 2000 and default["count"] == POINTS

    # Zoomed in: every point of the window, as logged.
    window = await get(
        jp_fetch, "runs", run.id, "metrics", metric="loss", from_step="31000", to_step="31999"
    )
    assert list(window["scalars"]) == ["loss"] and window["others"] == []
    zoomed = window["scalars"]["loss"]
    assert zoomed["downsampled"] is False and zoomed["count"] == 1000
    assert zoomed["steps"] == list(range(31_000, 32_000))
    assert zoomed["values"] == values[31_000:32_000]
    wide = await get(
        jp_fetch, "runs", run.id, "metrics", metric="loss", from_step="0", points="100"
    )
    assert wide["scalars"]["loss"]["count"] == POINTS
    assert len(wide["scalars"]["loss"]["values"]) <= 100

    # A live chart's cursor still gives only the new points, as logged.
    for value in (1.5, 2.5, 3.5):
        run.log("loss", value)
    new = await get(jp_fetch, "runs", run.id, "metrics", cursor=answer["cursor"])
    assert new["scalars"]["loss"]["values"] == [1.5, 2.5, 3.5]
    assert new["scalars"]["loss"]["steps"] == [None, None, None]
    assert new["scalars"]["loss"]["downsampled"] is False and new["others"] == []
    run.complete()

    for params, words in [
        ({"points": "1"}, "points must be 4 to 20000"),
        ({"points": "20001"}, "points must be 4 to 20000"),
        ({"from_step": "x"}, "from_step must be a whole number"),
        ({"from_step": "1", "cursor": answer["cursor"]}, "without a cursor"),
    ]:
        code, body = await refused(jp_fetch, "runs", run.id, "metrics", params=params)
        assert code == 400 and words in body["message"], (params, body)


async def test_downsampling_keeps_the_gaps_of_nan_and_the_finite_extremes(
    jp_fetch: Any, exp: Experiment
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    values = [float(i % 17) for i in range(1000)]
    values[100:200] = [float("nan")] * 100  # a stretch of gaps
    values[500], values[700] = float("nan"), 99.0  # a lone gap beside the maximum
    for step, value in enumerate(values):
        run.log("loss", value, step=step * 10)
    run.complete()
    loss = (await get(jp_fetch, "runs", run.id, "metrics", points="50"))["scalars"]["loss"]
    assert loss["downsampled"] is True and len(loss["values"]) <= 50
    numbers = [v for v in loss["values"] if not isinstance(v, str)]
    assert max(numbers) == 99.0 and min(numbers) == 0.0
    assert loss["steps"][loss["values"].index(99.0)] == 7000
    # The stretch of NaN still shows as a gap (non-finite values are strings on the wire).
    assert any(
        v == "NaN" and 1000 <= s < 2000 for s, v in zip(loss["steps"], loss["values"], strict=True)
    )


# one run -------------------------------------------------------------------------------------
SLOW = """
import sys, time
from aml_jupyter import Run
run = Run.get_context()
for i in range(3):
    print("line", i, flush=True)
    run.log("loss", 1.0 / (i + 1), step=i)
    run.log_row("table", epoch=i, acc=i / 2)
open("outputs/model.txt", "w").write("weights")
open("outputs/page.html", "w").write("<script>alert(1)</script>")
while len(sys.argv) > 1 and not __import__("os").path.exists("go"):
    time.sleep(0.05)
print("done", flush=True)
"""


def submit(exp: Experiment, project: Path, *args: str) -> Run:
    write(project, "train.py", SLOW)
    return exp.submit(ScriptRunConfig(project, "train.py", arguments=list(args)))


async def test_a_run_its_log_metrics_and_files_read_incrementally(
    jp_fetch: Any, exp: Experiment, project: Path
) -> None:
    run = submit(exp, project, "--hold")
    work = run.folder / "work"
    for _ in range(200):
        if (work / "outputs" / "page.html").exists():
            break
        await __import__("asyncio").sleep(0.05)

    details = await get(jp_fetch, "runs", run.id)
    assert details["status"] == "Running"
    assert details["terminal"] is False
    assert details["arguments"] == ["--hold"]
    assert details["script"] == "train.py"
    assert details["children"] == []
    assert details["has_tensorboard"] is False

    log = await get(jp_fetch, "runs", run.id, "log", offset=0)
    assert "line 0\nline 1\nline 2\n" in log["text"]
    assert log["terminal"] is False
    metrics = await get(jp_fetch, "runs", run.id, "metrics")
    assert metrics["scalars"]["loss"]["values"] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert metrics["scalars"]["loss"]["steps"] == [0, 1, 2]
    assert [p["value"] for p in metrics["others"]] == [{"epoch": i, "acc": i / 2} for i in range(3)]
    files = {f["name"]: f for f in (await get(jp_fetch, "runs", run.id, "files"))["files"]}
    assert files["outputs/model.txt"] == {"name": "outputs/model.txt", "size": 7, "live": True}

    (work / "go").touch()
    assert wait_status(run, RunStatus.TERMINAL) == "Completed"

    more = await get(jp_fetch, "runs", run.id, "log", offset=log["offset"])
    assert more["text"] == "done\n"
    assert more["terminal"] is True
    assert more["offset"] == more["size"]
    nothing = await get(jp_fetch, "runs", run.id, "metrics", cursor=metrics["cursor"])
    assert nothing["scalars"] == {} and nothing["others"] == [] and nothing["terminal"] is True
    files = {f["name"]: f for f in (await get(jp_fetch, "runs", run.id, "files"))["files"]}
    assert files["outputs/model.txt"]["live"] is False  # stored now

    body = await jp_fetch("aml", "api", "runs", run.id, "files", "outputs/model.txt")
    assert body.body == b"weights"
    assert body.headers["Content-Type"] == "text/plain"
    download = await jp_fetch(
        "aml", "api", "runs", run.id, "files", "outputs/model.txt", params={"download": "1"}
    )
    assert download.headers["Content-Disposition"] == 'attachment; filename="model.txt"'
    # HTML from a run never renders in Jupyter's origin.
    page = await jp_fetch("aml", "api", "runs", run.id, "files", "outputs/page.html")
    assert page.headers["Content-Type"] == "application/octet-stream"
    assert page.headers["Content-Disposition"].startswith("attachment")
    assert page.headers["Content-Security-Policy"] == "sandbox"

    row = (await get(jp_fetch, "runs"))["runs"][0]
    assert row["metrics"] == {"loss": pytest.approx(1 / 3)}


async def test_the_log_tail_starts_at_a_line_and_long_logs_come_in_chunks(
    jp_fetch: Any, exp: Experiment, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = "".join(f"line {i:05d} é\n" for i in range(3000))
    run = exp.start_logging(snapshot_directory=None)
    log_file = run.folder / "user_logs" / "std_log.txt"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.write_text(lines)
    run.complete()
    size = len(lines.encode())

    tail = await get(jp_fetch, "runs", run.id, "log", tail=100)
    assert tail["text"].startswith("line ") and lines.endswith(tail["text"])
    assert len(tail["text"].encode()) < 100
    assert tail["start"] + len(tail["text"].encode()) == tail["offset"] == size

    from aml_jupyter.frontends.jupyter import service

    monkeypatch.setattr(service, "LOG_CHUNK_BYTES", 1001)  # splits an é: never a broken one
    text, offset, reads = "", 0, 0
    while True:
        part = await get(jp_fetch, "runs", run.id, "log", offset=offset)
        assert part["start"] == offset
        text += part["text"]
        offset = part["offset"]
        reads += 1
        if part["terminal"]:
            break
    assert text == lines
    assert reads > 30


async def test_a_failed_run_shows_its_error_and_children(jp_fetch: Any, exp: Experiment) -> None:
    parent = exp.start_logging(display_name="sweep", snapshot_directory=None)
    kids = parent.create_children(count=2)
    kids[0].complete()
    kids[1].fail(error_details="diverged")
    parent.fail(error_details="one child failed")
    details = await get(jp_fetch, "runs", parent.id)
    assert details["status"] == "Failed"
    assert "one child failed" in details["error"]["message"]
    assert [c["id"] for c in details["children"]] == [k.id for k in kids]
    assert [c["status"] for c in details["children"]] == ["Completed", "Failed"]
    # Children stay out of the top-level listing but can be listed by parent.
    assert [r["id"] for r in (await get(jp_fetch, "runs"))["runs"]] == [parent.id]
    assert (await get(jp_fetch, "runs", parent=parent.id))["total"] == 2


async def test_git_state_is_in_the_details(jp_fetch: Any, exp: Experiment, project: Path) -> None:
    import subprocess

    write(project, "hello.py", "print('hi')\n")
    for cmd in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.email=a@b", "-c", "user.name=a", "commit", "-qm", "x"],
    ):
        subprocess.run(["git", *cmd], cwd=project, check=True)
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project, capture_output=True, text=True, check=True
    ).stdout.strip()
    run = exp.submit(ScriptRunConfig(project, "hello.py"))
    run.wait_for_completion()
    git = (await get(jp_fetch, "runs", run.id))["git"]
    assert git["commit"] == commit
    assert git["dirty"] is False


# writes --------------------------------------------------------------------------------------
async def test_cancel_stops_a_long_run(jp_fetch: Any, exp: Experiment, project: Path) -> None:
    run = submit(exp, project, "--hold")
    wait_status(run, {"Running"})
    response = await jp_fetch("aml", "api", "runs", run.id, "cancel", method="POST", body=b"")
    assert json.loads(response.body)["status"] in {"CancelRequested", "Canceled"}
    assert wait_status(run, RunStatus.TERMINAL) == "Canceled"


async def test_tags_are_edited_and_bad_bodies_change_nothing(
    jp_fetch: Any, exp: Experiment
) -> None:
    run = finished_run(exp, "r", {}, stage="dev", owner="me")

    async def patch(body: Any) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return await jp_fetch("aml", "api", "runs", run.id, "tags", method="PATCH", body=raw)

    answer = json.loads(
        (await patch({"set": {"stage": "prod", "<b>x</b>": 1}, "remove": ["owner"]})).body
    )
    assert answer["tags"] == {"stage": "prod", "<b>x</b>": "1"}
    assert run.get_tags() == answer["tags"]
    for body in [
        b"not json",
        {"add": {}},
        {"set": ["a"]},
        {"set": {"": "x"}},
        {"remove": "stage"},
        [1],
    ]:
        with pytest.raises(HTTPClientError) as info:
            await patch(body)
        assert info.value.code == 400, body
        assert json.loads(info.value.response.body)["message"]  # type: ignore[union-attr]
    assert run.get_tags() == {"stage": "prod", "<b>x</b>": "1"}


async def test_unknown_runs_and_files_are_404(jp_fetch: Any, exp: Experiment) -> None:
    run = finished_run(exp, "r", {})
    for path in [("runs", "nope"), ("runs", "nope", "log"), ("runs", "nope", "metrics")]:
        code, body = await refused(jp_fetch, *path)
        assert (code, body["reason"]) == (404, "no-run")
    code, body = await refused(jp_fetch, "runs", run.id, "files", "outputs/none.txt")
    assert (code, body["reason"]) == (404, "no-file")
    code, body = await refused(jp_fetch, "runs", "nope", "cancel", method="POST", body=b"")
    assert code == 404


async def test_file_names_outside_the_run_are_refused(
    jp_fetch: Any,
    http_server_client: Any,
    jp_auth_header: dict[str, str],
    jp_base_url: str,
    exp: Experiment,
    tmp_path: Path,
) -> None:
    (tmp_path / "secret.txt").write_text("TOP-SECRET-CONTENT")
    run = exp.start_logging(snapshot_directory=None)
    run.upload_file("outputs/a.txt", str(tmp_path / "secret.txt"))
    run.complete()
    base = f"{jp_base_url}aml/api/runs/{run.id}/files/"
    for name in [
        "..%2F..%2F..%2Fsecret.txt",
        "%2E%2E/%2E%2E/aml.db",
        "outputs/..%2F..%2Faml.db",
        "%2Fetc%2Fpasswd",
        "C:%5Cwindows",
    ]:
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(base + name, headers=jp_auth_header)
        assert info.value.code in (400, 404), name
        assert b"TOP-SECRET" not in (info.value.response.body or b"")
    ok = await http_server_client.fetch(base + quote("outputs/a.txt"), headers=jp_auth_header)
    assert ok.body == b"TOP-SECRET-CONTENT"


async def test_tensorboard_needs_event_files(jp_fetch: Any, exp: Experiment) -> None:
    run = finished_run(exp, "r", {})
    code, body = await refused(jp_fetch, "runs", run.id, "tensorboard", method="POST", body=b"")
    assert (code, body["reason"]) == (409, "no-events")


async def test_tensorboard_starts_behind_the_proxy(
    jp_fetch: Any, exp: Experiment, tmp_path: Path
) -> None:
    from tensorboard.summary import Writer

    from aml_jupyter import Tensorboard

    writer = Writer(str(tmp_path / "tb" / "train"))
    writer.add_scalar("loss", 0.5, 0)
    writer.close()
    run = exp.start_logging(snapshot_directory=None)
    run.upload_folder("logs", tmp_path / "tb")
    run.complete()
    assert (await get(jp_fetch, "runs", run.id))["has_tensorboard"] is True
    try:
        response = await jp_fetch(
            "aml", "api", "runs", run.id, "tensorboard", method="POST", body=b""
        )
        answer = json.loads(response.body)
        # Its own sandboxed route, not jupyter-server-proxy's (test_board_proxy.py).
        assert re.fullmatch(r"/(.*/)?aml/tensorboard/[\w-]{40,}/", answer["url"])
        assert isinstance(answer["port"], int)
    finally:
        Tensorboard([run]).stop()


# security and the spec ---------------------------------------------------------------------
ROUTES = [
    ("GET", "workspace"),
    ("POST", "workspace"),
    ("GET", "experiments"),
    ("GET", "compute"),
    ("GET", "openapi.yaml"),
    ("GET", "runs"),
    ("GET", "runs/R"),
    ("GET", "runs/R/log"),
    ("GET", "runs/R/metrics"),
    ("GET", "runs/R/files"),
    ("GET", "runs/R/files/outputs/a.txt"),
    ("POST", "runs/R/cancel"),
    ("PATCH", "runs/R/tags"),
    ("POST", "runs/R/tensorboard"),
    ("GET", "models"),
    ("GET", "models/m/1"),
    ("GET", "services"),
    ("DELETE", "services/svc"),
    ("GET", "services/svc/logs"),
    ("GET", "datasets"),
    ("GET", "datasets/d"),
    ("GET", "datasets/d/1"),
    ("GET", "datastores"),
]


async def test_every_route_refuses_a_request_without_the_token(
    http_server_client: Any, jp_base_url: str, exp: Experiment
) -> None:
    run = finished_run(exp, "r", {})
    for method, path in ROUTES:
        url = f"{jp_base_url}aml/api/{path.replace('R', run.id, 1) if path.startswith('runs/R') else path}"
        body = b"{}" if method in ("POST", "PATCH") else None
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(url, method=method, body=body)
        assert info.value.code in (401, 403), (method, path)
    assert run.get_status() == "Completed"  # the refused cancel did nothing


def test_the_spec_lists_every_route() -> None:
    spec = yaml.safe_load(handlers.SPEC.read_text())
    assert spec["openapi"].startswith("3.")
    documented = {
        (method.upper(), re.sub(r"\{(\w+)\}", r"{}", path))
        for path, item in spec["paths"].items()
        for method in item
        if method in {"get", "post", "patch", "put", "delete"}
    }
    served = {
        (
            method,
            "/"
            + re.sub(r"^runs/R", "runs/{}", path)
            .replace("files/outputs/a.txt", "files/{}")
            .replace("models/m/1", "models/{}/{}")
            .replace("services/svc", "services/{}")
            .replace("datasets/d", "datasets/{}")
            .replace("datasets/{}/1", "datasets/{}/{}"),
        )
        for method, path in ROUTES
    }
    assert documented == served


async def test_the_spec_is_served(jp_fetch: Any, ws: Workspace) -> None:
    response = await jp_fetch("aml", "api", "openapi.yaml")
    assert yaml.safe_load(response.body)["info"]["title"] == "aml_jupyter REST API"


def test_the_extension_is_enabled_by_its_config_file() -> None:
    # What `pip install` puts in etc/jupyter/jupyter_server_config.d.
    config = Path(__file__).parents[1] / "jupyter-config" / "server-config" / "aml_jupyter.json"
    assert json.loads(config.read_text())["ServerApp"]["jpserver_extensions"] == {
        "aml_jupyter": True
    }
    installed = (
        Path(sys.prefix) / "etc" / "jupyter" / "jupyter_server_config.d" / "aml_jupyter.json"
    )
    assert installed.read_text() == config.read_text()

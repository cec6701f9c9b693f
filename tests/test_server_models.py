"""The model page's and the Services section's REST routes, through a real Jupyter server and a
real local scoring service (an entry script over a one-file model: no framework to load)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from test_server_api import get, refused
from tiny_service import SCORE
from tornado.httpclient import HTTPClientError

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

TRAIN = """
    import os
    os.makedirs("outputs", exist_ok=True)
    open("outputs/weights.txt", "w").write("w-42")
"""


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


@pytest.fixture
def tiny(exp: Experiment, project: Path) -> tuple[Model, Model]:
    """Two versions of ``tiny`` registered from one real run."""
    write(project, "train.py", TRAIN)
    run = exp.submit(ScriptRunConfig(project, "train.py"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    first = run.register_model("tiny", "outputs/weights.txt", tags={"stage": "dev"})
    second = run.register_model(
        "tiny", "outputs/weights.txt", properties={"score": "0.9"}, description="the second"
    )
    return first, second


@pytest.fixture
def served(ws: Workspace, tiny: tuple[Model, Model], project: Path) -> Iterator[LocalWebservice]:
    write(project / "serve", "score.py", SCORE)
    config = InferenceConfig(entry_script="score.py", source_directory=project / "serve")
    service = Model.deploy(ws, "tiny-svc", [tiny[0]], config)
    yield service
    for left in LocalWebservice.list(ws):
        left.delete()


async def test_the_model_page_has_versions_lineage_and_deployments(
    jp_fetch: Any, served: LocalWebservice, tiny: tuple[Model, Model]
) -> None:
    first = tiny[0]
    page = await get(jp_fetch, "models", "tiny", "1")
    assert page["id"] == "tiny:1" and page["tags"] == {"stage": "dev"}
    assert page["runId"] == first.run_id and page["experimentName"] == "tests"
    assert page["files"] == ["weights.txt"]
    assert [v["version"] for v in page["versions"]] == [2, 1]
    assert page["versions"][0]["runId"] == first.run_id
    assert page["deployments"] == [
        {"name": "tiny-svc", "state": "Healthy", "scoring_uri": served.scoring_uri}
    ]
    assert page["datasets"] == []
    # Version 2 is not deployed; its own properties and description.
    other = await get(jp_fetch, "models", "tiny", "2")
    assert other["deployments"] == [] and other["description"] == "the second"
    assert other["properties"] == {"score": "0.9"} and other["tags"] == {}


async def test_service_logs_stats_and_delete(
    jp_fetch: Any, ws: Workspace, served: LocalWebservice
) -> None:
    assert served.run({"x": 1})["weights"] == "w-42"
    with pytest.raises(AmlError, match="asked to explode"):
        served.run({"explode": True})
    [listed] = (await get(jp_fetch, "services"))["services"]
    assert listed["name"] == "tiny-svc" and listed["state"] == "Healthy"
    assert listed["models"] == ["tiny:1"] and listed["scoring_uri"] == served.scoring_uri
    assert listed["stats"]["requests"] == 2 and listed["stats"]["errors"] == 1
    assert listed["stats"]["p95_ms"] is not None

    logs = await get(jp_fetch, "services", "tiny-svc", "logs")
    assert logs["name"] == "tiny-svc"
    assert "tiny service loaded w-42" in logs["logs"] and "asked to explode" in logs["logs"]
    last = await get(jp_fetch, "services", "tiny-svc", "logs", lines="1")
    assert last["logs"].count("\n") == 0 and last["logs"] in logs["logs"]

    response = await jp_fetch("aml", "api", "services", "tiny-svc", method="DELETE")
    assert json.loads(response.body) == {"deleted": "tiny-svc"}
    assert LocalWebservice.list(ws) == []
    assert (await get(jp_fetch, "services")) == {"services": []}
    # The model it served is no longer deployed.
    assert (await get(jp_fetch, "models", "tiny", "1"))["deployments"] == []


async def test_unknown_names_and_bad_lines_are_refused(
    jp_fetch: Any, ws: Workspace, tiny: tuple[Model, Model]
) -> None:
    status, body = await refused(jp_fetch, "models", "nope", "1")
    assert status == 404 and body["reason"] == "no-model" and "tiny" in body["message"]
    status, body = await refused(jp_fetch, "models", "tiny", "7")
    assert status == 404 and body["reason"] == "no-model"
    status, body = await refused(jp_fetch, "services", "ghost", "logs")
    assert status == 404 and body["reason"] == "no-service" and "ghost" in body["message"]
    status, body = await refused(jp_fetch, "services", "ghost", method="DELETE")
    assert status == 404 and body["reason"] == "no-service"
    for lines in ("0", "-3", "20001", "many", "9" * 5000):
        status, body = await refused(jp_fetch, "services", "ghost", "logs", params={"lines": lines})
        assert status == 400 and body["reason"] == "bad-request", lines
        assert "lines must be" in body["message"]
    # A name no registry allows never reaches the service (no route: a plain 404).
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("aml", "api", "services", ".hidden", "logs")
    assert info.value.code == 404

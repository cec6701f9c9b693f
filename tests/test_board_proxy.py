"""TensorBoard's sandboxed route (``aml/tensorboard/<key>/``) through a real Jupyter server and
a real TensorBoard: the key opens it, the sandbox comes with every answer, nothing else opens.
(That TensorBoard still renders in the browser is tested in test_lab_ui.py.)"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from aml_jupyter import Experiment, Run, Tensorboard


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


@pytest.fixture
def board_run(exp: Experiment, tmp_path: Path) -> Iterator[Run]:
    from tensorboard.summary import Writer

    writer = Writer(str(tmp_path / "tb" / "train"))
    writer.add_scalar("loss", 0.5, 0)
    writer.close()
    run = exp.start_logging(snapshot_directory=None)
    run.upload_folder("logs", tmp_path / "tb")
    run.complete()
    try:
        yield run
    finally:
        Tensorboard([run]).stop()


async def test_the_key_opens_tensorboard_sandboxed_and_without_a_cookie(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str, board_run: Run
) -> None:
    response = await jp_fetch(
        "aml", "api", "runs", board_run.id, "tensorboard", method="POST", body=b""
    )
    url = json.loads(response.body)["url"]
    assert url.startswith(f"{jp_base_url}aml/tensorboard/")

    # No token and no cookie: the key in the path is what opens it.
    page = await http_server_client.fetch(url)
    policies = page.headers.get_list("Content-Security-Policy")
    ours = next(p for p in policies if p.startswith("sandbox"))
    assert "allow-scripts" in ours and "allow-same-origin" not in ours
    assert page.headers["Referrer-Policy"] == "no-referrer"
    html = page.body.decode()
    assert "<title>TensorBoard</title>" in html
    shim = re.search(r'<script src="([^"]+shim\.js)"></script>', html)
    assert shim and html.index(shim.group(0)) < html.index("<script src=", shim.end())
    script = await http_server_client.fetch(shim.group(1))
    assert b"localStorage" in script.body

    # Its data answers a page of an opaque origin (CORS with no credentials).
    runs = await http_server_client.fetch(url + "data/runs", headers={"Origin": "null"})
    assert json.loads(runs.body) == [f"{board_run.id}/train"]
    assert runs.headers["Access-Control-Allow-Origin"] == "*"
    preflight = await http_server_client.fetch(
        url + "data/plugin/timeseries/timeSeries",
        method="OPTIONS",
        headers={"Origin": "null", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.code == 204
    assert "X-XSRF-Protected" in preflight.headers["Access-Control-Allow-Headers"]


async def test_a_wrong_or_missing_key_opens_nothing(
    jp_fetch: Any, http_server_client: Any, jp_base_url: str, board_run: Run
) -> None:
    response = await jp_fetch(
        "aml", "api", "runs", board_run.id, "tensorboard", method="POST", body=b""
    )
    key = json.loads(response.body)["url"].rstrip("/").rsplit("/", 1)[1]
    assert (
        await http_server_client.fetch(f"{jp_base_url}aml/tensorboard/{key}/data/runs")
    ).code == 200
    wrong = ("A" if key[0] != "A" else "B") + key[1:]
    for path in [f"{wrong}/", f"{wrong}/data/runs", f"{key[:19]}/data/runs", "data/runs"]:
        with pytest.raises(HTTPClientError) as info:
            await http_server_client.fetch(f"{jp_base_url}aml/tensorboard/{path}")
        assert info.value.code == 404, path
        assert b"train" not in (info.value.response.body or b"")  # type: ignore[union-attr]

"""Property-based: any text in the listing's and the log's query parameters answers 200 or a
JSON 400, never a 500. Hypothesis makes the requests against a real Jupyter server."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import Experiment


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


#: Any text, and the numbers near the edges that parsing must get right.
TEXT = st.one_of(
    st.text(max_size=30),
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(["", " 7 ", "1_0", "0x10", "1e3", "-0", "٣", str(2**63), str(2**63 - 1)]),
)
ANSWERS = {200, 400}


def ask(url: str, headers: dict[str, str]) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


async def test_any_query_text_answers_200_or_400(
    jp_fetch: Any,
    jp_http_port: int,
    jp_base_url: str,
    jp_auth_header: dict[str, str],
    exp: Experiment,
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    run.log("loss", 0.5)
    # jp_fetch serves the app on jp_http_port; Hypothesis asks it over plain HTTP.
    listed = json.loads((await jp_fetch("aml", "api", "runs")).body)
    assert [r["id"] for r in listed["runs"]] == [run.id]
    base = f"http://127.0.0.1:{jp_http_port}{jp_base_url}aml/api"

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        params=st.dictionaries(
            st.sampled_from(["offset", "limit", "sort", "order", "status", "tag", "q"]), TEXT
        ),
        log=st.dictionaries(st.sampled_from(["offset", "tail"]), TEXT),
    )
    def check(params: dict[str, str], log: dict[str, str]) -> None:
        for url in (
            f"{base}/runs?{urlencode(params)}",
            f"{base}/runs/{run.id}/log?{urlencode(log)}",
        ):
            code, body = ask(url, jp_auth_header)
            assert code in ANSWERS, (url, code, body)
            if code == 400:
                assert body["reason"] == "bad-request" and body["message"], body

    # Off the event loop, so the server it serves keeps answering the requests.
    await asyncio.get_running_loop().run_in_executor(None, check)
    run.complete()

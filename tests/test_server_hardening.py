"""The REST API against hostile or odd data: strict JSON out, 400 (never 500) for bad input,
list pages that stay small whatever the tags. Through a real Jupyter server (pytest-jupyter)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tornado.httpclient import HTTPClientError

from aml_jupyter import Experiment, Run
from aml_jupyter.frontends.jupyter.service import TAG_PREVIEW_CHARS


@pytest.fixture
def jp_server_config() -> dict[str, Any]:
    return {"ServerApp": {"jpserver_extensions": {"aml_jupyter": True}}}


def _no_constant(name: str) -> Any:
    raise AssertionError(f"{name} is not JSON (a browser's JSON.parse refuses it)")


def strict(body: bytes) -> Any:
    """``body`` parsed as RFC 8259 JSON: NaN, Infinity and -Infinity fail the test."""
    return json.loads(body, parse_constant=_no_constant)


async def get(jp_fetch: Any, *path: str, **params: Any) -> Any:
    response = await jp_fetch("aml", "api", *path, params=params or None)
    return strict(response.body)


async def refused(jp_fetch: Any, *path: str, **kw: Any) -> tuple[int, Any]:
    with pytest.raises(HTTPClientError) as info:
        await jp_fetch("aml", "api", *path, **kw)
    assert info.value.response is not None
    return info.value.code, strict(info.value.response.body)


# non-finite numbers ------------------------------------------------------------------------
def diverged(exp: Experiment) -> Run:
    run = exp.start_logging(display_name="diverged", snapshot_directory=None)
    for step, value in enumerate([1.0, float("nan"), float("inf"), float("-inf")]):
        run.log("loss", value, step=step)
    run.log("gain", float("inf"))
    run.log_list("curve", [0.5, float("nan"), float("-inf")])
    run.log_row("table", epoch=1, acc=float("nan"))
    return run


async def test_nan_and_infinity_go_out_as_strict_json_strings(
    jp_fetch: Any, exp: Experiment
) -> None:
    run = diverged(exp)
    for finished in (False, True):  # a live run's last values come from its files' tails
        row = (await get(jp_fetch, "runs"))["runs"][0]
        assert row["metrics"] == {"loss": "-Infinity", "gain": "Infinity"}, finished
        details = await get(jp_fetch, "runs", run.id)
        assert details["metrics"] == row["metrics"]
        metrics = await get(jp_fetch, "runs", run.id, "metrics")
        assert metrics["scalars"]["loss"]["values"] == [1.0, "NaN", "Infinity", "-Infinity"]
        others = {p["name"]: p["value"] for p in metrics["others"]}
        assert others["curve"] == [0.5, "NaN", "-Infinity"]
        assert others["table"] == {"epoch": 1, "acc": "NaN"}
        run.complete()


# bad input: 400 with a reason, never 500 ---------------------------------------------------
async def test_numbers_out_of_range_are_400(jp_fetch: Any, exp: Experiment) -> None:
    run = exp.start_logging(snapshot_directory=None)
    run.folder.joinpath("user_logs").mkdir(parents=True, exist_ok=True)
    run.folder.joinpath("user_logs", "std_log.txt").write_text("hello\n")
    cases = [
        (("runs",), {"offset": str(2**63)}, "offset must be 0 or more and below 2**63"),
        (("runs",), {"offset": str(10**30)}, "below 2**63"),
        (("runs",), {"limit": str(10**30)}, "limit must be 1 to 500"),
        (("runs",), {"offset": "9" * 5000}, "whole number"),  # past int()'s digit limit
        (("runs", run.id, "log"), {"offset": str(10**20)}, "below 2**63"),
        (("runs", run.id, "log"), {"tail": "0"}, "tail must be 1 or more"),
        (("runs", run.id, "log"), {"tail": "-5"}, "tail must be 1 or more"),
    ]
    for path, params, words in cases:
        code, body = await refused(jp_fetch, *path, params=params)
        assert (code, body["reason"]) == (400, "bad-request"), (path, params)
        assert words in body["message"], (params, body)
    # The largest offsets that are allowed answer, empty.
    last = str(2**63 - 1)
    assert (await get(jp_fetch, "runs", offset=last))["runs"] == []
    log = await get(jp_fetch, "runs", run.id, "log", offset=last)
    assert log["text"] == "" and log["size"] == 6
    run.complete()


async def test_tag_bodies_that_cannot_be_stored_are_400_and_change_nothing(
    jp_fetch: Any, exp: Experiment
) -> None:
    run = exp.start_logging(snapshot_directory=None)
    run.set_tags({"stage": "dev"})
    deep = b'{"set": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    for raw, words in [
        (rb'{"set": {"\ud800": "x"}}', "lone surrogate"),  # JSON text, not a Python str
        (rb'{"set": {"k": "a\udfffb"}}', "lone surrogate"),
        (rb'{"remove": ["\udc00"]}', "lone surrogate"),
        (b'{"set": {"k": "\xff"}}', "not valid UTF-8"),
        (b'{"set": {"k": NaN}}', "NaN is not JSON"),
        (deep, "nested too deeply"),
        (b"[" * 100_000, "nested too deeply"),
    ]:
        code, body = await refused(jp_fetch, "runs", run.id, "tags", method="PATCH", body=raw)
        assert (code, body["reason"]) == (400, "bad-request"), raw[:40]
        assert words in body["message"], (raw[:40], body)
    assert run.get_tags() == {"stage": "dev"}
    # Characters outside the BMP are fine: a surrogate pair is one character.
    answer = await jp_fetch(
        "aml",
        "api",
        "runs",
        run.id,
        "tags",
        method="PATCH",
        body=rb'{"set": {"k": "\ud83d\ude00"}}',
    )
    assert strict(answer.body)["tags"]["k"] == "\U0001f600"
    run.complete()


# list pages stay small -----------------------------------------------------------------------
#: Below the store's own cap on one tag value (32,768 characters); 20 of them make 600 KB.
BIG = 30_000


async def test_list_pages_cut_long_tag_values_and_details_keep_them(
    jp_fetch: Any, exp: Experiment
) -> None:
    parent = exp.start_logging(display_name="sweep", snapshot_directory=None)
    big = {f"notes{i}": chr(ord("a") + i) * BIG for i in range(20)}
    parent.set_tags({**big, "short": "kept", "flag": None})
    child = parent.child_run()
    child.set_tags({"blob": "z" * BIG})

    response = await jp_fetch("aml", "api", "runs")
    assert len(response.body) < 64 * 1024, len(response.body)
    row = strict(response.body)["runs"][0]
    assert sorted(row["tags_cut"]) == sorted(big)
    for key, value in big.items():
        assert row["tags"][key] == value[:TAG_PREVIEW_CHARS]
    assert row["tags"]["short"] == "kept" and row["tags"]["flag"] is None

    kids = await jp_fetch("aml", "api", "runs", params={"parent": parent.id})
    assert len(kids.body) < 64 * 1024
    assert strict(kids.body)["runs"][0]["tags_cut"] == ["blob"]

    details = await get(jp_fetch, "runs", parent.id)
    assert details["tags"] == {**big, "short": "kept", "flag": None}
    assert details["tags_cut"] == []
    assert details["children"][0]["tags"]["blob"] == "z" * TAG_PREVIEW_CHARS
    assert details["children"][0]["tags_cut"] == ["blob"]
    assert (await get(jp_fetch, "runs", child.id))["tags"]["blob"] == "z" * BIG
    child.complete()
    parent.complete()

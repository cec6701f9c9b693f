"""What a Ray dashboard reports, read without Ray: any JSON it answers is read safely.

A real HTTP server on 127.0.0.1 answers ``/api/cluster_status`` and ``/api/v0/nodes`` with
what hypothesis makes (well-formed reports and hostile ones); :class:`RayJobs` must read each
into plain numbers or raise our error, and the fit check must agree with the report.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError
from aml_jupyter.compute.cluster.jobs_api import RayJobs
from aml_jupyter.compute.cluster.ray_resources import dashboard_key, fits_now


class _Dashboard(http.server.BaseHTTPRequestHandler):
    answer: bytes = b"{}"

    def do_GET(self) -> None:
        body = type(self).answer
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def dashboard() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Dashboard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _answer(value: Any) -> None:
    _Dashboard.answer = json.dumps(value).encode()


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)
NAMES = st.sampled_from(["CPU", "GPU", "fakeGpu", "memory"])
AMOUNT = st.floats(min_value=0, max_value=64, allow_nan=False)
NODE = st.dictionaries(NAMES, st.tuples(AMOUNT, AMOUNT).map(sorted), min_size=1)


def _report(nodes: list[dict[str, list[float]]], waiting: bool) -> dict[str, Any]:
    """A report shaped as Ray 2.60's dashboard sends it: ``name: [used, total]``."""
    usage: dict[str, list[float]] = {}
    for node in nodes:
        for name, (used, total) in node.items():
            was = usage.setdefault(name, [0.0, 0.0])
            usage[name] = [was[0] + used, was[1] + total]
    report = {
        "usage": usage,
        "usageByNode": {f"node{i}": dict(node) for i, node in enumerate(nodes)},
        "resourceDemand": [[{"CPU": 1.0}, 1]] if waiting else [],
        "pgDemand": [],
        "nodeTypes": [[{k: v[1] for k, v in node.items()}, 1] for node in nodes],
    }
    return {"result": True, "data": {"clusterStatus": {"loadMetricsReport": report}}}


SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@SETTINGS
@given(st.one_of(JSON, st.builds(lambda d: {"data": {"clusterStatus": d}}, JSON)))
def test_any_cluster_report_is_read_into_numbers(dashboard: str, answer: Any) -> None:
    _answer(answer)
    try:
        got = RayJobs(dashboard).resources()
    except AmlError:
        return
    for part in ("total", "used"):
        assert all(isinstance(v, float) for v in got[part].values())
    assert all(isinstance(v, float) for node in got["nodes"] for v in node.values())
    assert all(isinstance(v, float) for node in got["free_by_node"] for v in node.values())
    assert isinstance(got["waiting"], bool)
    fits_now({"CPU": 1.0}, got)  # never raises on what was read


@SETTINGS
@given(st.lists(NODE, min_size=1, max_size=4), st.booleans(), st.dictionaries(NAMES, AMOUNT))
def test_a_run_fits_when_one_node_has_all_it_asks_free_and_none_waits(
    dashboard: str, nodes: list[dict[str, list[float]]], waiting: bool, asks: dict[str, float]
) -> None:
    _answer(_report(nodes, waiting))
    cluster = RayJobs(dashboard).resources()
    one_node_has_it = any(
        all(n.get(k, [0, 0])[1] - n.get(k, [0, 0])[0] >= v for k, v in asks.items() if v)
        for n in nodes
    )
    assert fits_now(asks, cluster) == (one_node_has_it and not waiting)


def test_names_are_asked_as_the_dashboard_spells_them() -> None:
    assert dashboard_key("fake_gpu") == "fakeGpu"
    assert dashboard_key("CPU") == "CPU"
    assert dashboard_key("accelerator_type_a100") == "acceleratorTypeA100"


@SETTINGS
@given(JSON)
def test_any_node_listing_is_read_or_refused(dashboard: str, answer: Any) -> None:
    _answer(answer)
    try:
        node = RayJobs(dashboard).node("abc123")
    except AmlError:
        return
    assert node is None or (isinstance(node, dict) and node["node_id"] == "abc123")


def test_a_node_is_found_by_its_id(dashboard: str) -> None:
    rows = [{"node_id": "other", "state": "ALIVE"}, {"node_id": "abc123", "state": "DEAD"}]
    _answer({"result": True, "data": {"result": {"total": 2, "result": rows}}})
    assert RayJobs(dashboard).node("abc123") == rows[1]
    assert RayJobs(dashboard).node("missing") is None

"""Property: whatever a script logs, tags or names, the workspace stays usable.

Hypothesis throws arbitrary metric names and values, tags, experiment names and raw bytes (a
hostile script writing its metrics file directly) at one workspace. Each call either works or
raises our one AmlError; afterwards the run ends, `list_runs`, a real jupyter server's REST
`/runs` (strict JSON: no NaN) and a fresh run all still work.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError, Experiment, Workspace
from aml_jupyter.compute.distributed import free_port
from aml_jupyter.status import RunStatus


def strict_json(body: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"{constant} is not JSON")

    return json.loads(body, parse_constant=refuse)


class Server:
    """A real `jupyter server` with the aml extension, over one workspace folder."""

    def __init__(self, root: Path) -> None:
        self.token = secrets.token_hex(16)
        self.port = free_port()
        bin_dir = Path(sys.executable).parent
        self.proc = subprocess.Popen(
            [
                str(bin_dir / "jupyter"),
                "server",
                "--no-browser",
                f"--port={self.port}",
                f"--ServerApp.token={self.token}",
                f"--ServerApp.root_dir={root}",
                "--allow-root",
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, "AML_WORKSPACE": str(root)},
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self.get("/api/status")
                return
            except (OSError, urllib.error.URLError):
                assert self.proc.poll() is None, "jupyter server exited"
                assert time.monotonic() < deadline, "jupyter server did not answer in 60 s"
                time.sleep(0.2)

    def get(self, path: str) -> tuple[int, bytes]:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}{path}",
            headers={"Authorization": f"token {self.token}"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def stop(self) -> None:
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Server]]:
    root = tmp_path_factory.mktemp("fuzz")
    ws = Workspace.create(root)
    server = Server(root)
    try:
        yield ws, server
    finally:
        server.stop()


def _surrogated(text: str) -> str:
    return text + "\udcff"


names = st.one_of(
    st.text(max_size=300), st.text(max_size=20).map(_surrogated), st.sampled_from(["", "acc"])
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.builds(lambda: 10**5000),  # built, not shown: repr() of it fails
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.text(max_size=5).map(_surrogated),
    st.binary(max_size=10),
)
values = st.recursive(
    leaves,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(names, inner, max_size=3),
    max_leaves=10,
) | st.integers(min_value=60, max_value=2000).map(
    lambda depth: json.loads("[" * depth + "]" * depth) if depth < 900 else [[[]]]
)
actions = st.lists(
    st.one_of(
        st.tuples(st.just("log"), names, values),
        st.tuples(st.just("log_list"), names, st.lists(values, max_size=3)),
        st.tuples(st.just("log_row"), names, st.dictionaries(names, values, max_size=3)),
        st.tuples(st.just("tag"), names, st.one_of(st.none(), st.text(max_size=40), values)),
        st.tuples(st.just("raw"), st.just(""), st.binary(max_size=200)),
        st.tuples(
            st.just("raw"),
            st.just(""),
            st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),
        ),
    ),
    max_size=6,
)
experiment_names = st.one_of(
    st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,260}", fullmatch=True),
    st.text(max_size=40),
    st.just("fuzz"),
)


def act(run: Any, action: tuple[str, str, Any]) -> None:
    kind, name, value = action
    if kind == "raw":  # what a script could write to its metrics file, bypassing every check
        folder = run.folder / "metrics"
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "4242.jsonl", "ab") as f:
            f.write(value + b"\n")
        return
    if kind == "log":
        run.log(name, value)
    elif kind == "log_list":
        run.log_list(name, value)
    elif kind == "log_row":
        run.log_row(name, **{k: v for k, v in value.items() if isinstance(k, str)})
    else:
        run.tag(name, value)


@settings(
    max_examples=int(os.environ.get("AML_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(experiment=experiment_names, steps=actions, live=st.booleans())
def test_the_workspace_survives_whatever_a_run_is_given(
    world: tuple[Workspace, Server], experiment: str, steps: list[Any], live: bool
) -> None:
    ws, server = world
    try:
        exp = Experiment(ws, experiment)
    except AmlError:
        exp = Experiment(ws, "fuzz")
    run = exp.start_logging(snapshot_directory=None)
    for action in steps:
        try:
            act(run, action)
        except AmlError:
            pass  # refused clearly: fine; anything else fails the test
    if not live:
        run.complete()
        assert run.get_status() in RunStatus.TERMINAL
    # Readers: the API, the REST listing and the run's own page (live runs included).
    ws.store.list_runs(include_children=True)
    run.get_metrics(), run.get_details(), run.get_tags(), run.get_file_names()
    status, body = server.get("/aml/api/runs?limit=50")
    assert status == 200, body[:500]
    listed = strict_json(body)["runs"]
    assert run.id in [r["id"] for r in listed]
    status, body = server.get(f"/aml/api/runs/{run.id}")
    assert status == 200, body[:500]
    strict_json(body)
    status, body = server.get(f"/aml/api/runs/{run.id}/metrics")
    assert status == 200, body[:500]
    strict_json(body)
    if live:
        run.complete()
    fresh = Experiment(ws, "fresh").start_logging(snapshot_directory=None)
    fresh.log("ok", 1)
    fresh.complete()
    assert fresh.get_status() == RunStatus.COMPLETED and fresh.get_metrics() == {"ok": 1}

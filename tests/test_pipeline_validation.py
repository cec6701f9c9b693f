"""A pipeline's graph checked before anything runs: every problem at once, names and
parameter values from outside (hypothesis), any graph of steps valid or refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import (
    AmlError,
    Experiment,
    Pipeline,
    PipelineData,
    PipelineParameter,
    PythonScriptStep,
    Workspace,
)
from tests.conftest import write


def test_validate_reports_every_problem_at_once_and_runs_nothing(
    ws: Workspace, tmp_path: Path
) -> None:
    write(tmp_path / "src", "ok.py", "print('ok')")
    orphan = PipelineData("orphan")
    lr = PipelineParameter("lr", 0.1)
    a = PythonScriptStep("ok.py", name="a", arguments=[lr], source_directory=tmp_path / "src")
    b = PythonScriptStep("ok.py", name="b", inputs=[orphan], source_directory=tmp_path / "src")
    c = PythonScriptStep("missing.py", name="c", source_directory=tmp_path / "src")
    d = PythonScriptStep("ok.py", name="two\nlines", source_directory=tmp_path / "src")
    a.run_after(c)
    c.run_after(a)
    pipeline = Pipeline(ws, [a, b, c, d])
    with pytest.raises(AmlError) as caught:
        Experiment(ws, "bad").submit(pipeline, pipeline_parameters={"lr": "fast", "nope": 1})
    message = str(caught.value)
    assert "6 problems" in message
    assert "'two\\nlines' is too long or has a line break" in message
    assert "which no step produces" in message and "'orphan'" in message
    assert "script 'missing.py' is not in" in message
    assert "cycle" in message
    assert "parameter 'lr' takes a number, got 'fast'" in message
    assert "'nope', which no step uses" in message
    assert ws.store.list_runs(include_children=True) == []


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    value=st.one_of(
        st.text(max_size=20),
        st.integers(),
        st.floats(allow_nan=False),
        st.booleans(),
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.binary(max_size=4),
    ),
    name=st.text(max_size=12),
)
def test_parameters_and_names_from_outside_are_checked(
    ws: Workspace, tmp_path: Path, value: object, name: str
) -> None:
    write(tmp_path / "src", "ok.py", "print('ok')")
    try:
        data = PipelineData(name)
    except AmlError:
        assert not name.isidentifier() or not name.isascii() or len(name) == 0
    else:
        assert data.get_env_variable_name() == f"AZUREML_DATAREFERENCE_{name}"
    lr = PipelineParameter("lr", 0.1)
    step = PythonScriptStep("ok.py", name="s", arguments=[lr], source_directory=tmp_path / "src")
    pipeline = Pipeline(ws, [step])
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric:
        assert pipeline.validate({"lr": value}) == []
    else:
        with pytest.raises(AmlError, match="parameter 'lr'"):
            pipeline.validate({"lr": value})


@settings(max_examples=80, deadline=None)
@given(name=st.text(max_size=300))
def test_data_and_parameter_names_from_outside_are_checked(name: str) -> None:
    valid = name.isascii() and name.isidentifier() and len(name) <= 255
    for make in (lambda: PipelineData(name), lambda: PipelineParameter(name, 1)):
        try:
            made = make()
        except AmlError as e:
            assert not valid and "is not valid" in str(e)
        else:
            assert valid and made.name == name


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    count=st.integers(min_value=1, max_value=6),
    edges=st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5)), max_size=10),
    missing=st.sets(st.integers(0, 5), max_size=2),
)
def test_any_graph_is_either_valid_or_refused_with_each_problem(
    ws: Workspace, tmp_path: Path, count: int, edges: list[tuple[int, int]], missing: set[int]
) -> None:
    write(tmp_path / "src", "ok.py", "print('ok')")
    steps = [
        PythonScriptStep(
            "gone.py" if i in missing else "ok.py", name=f"s{i}", source_directory=tmp_path / "src"
        )
        for i in range(count)
    ]
    after = {i: set() for i in range(count)}
    for a, b in edges:
        if a < count and b < count:
            steps[a].run_after(steps[b])
            after[a].add(b)
    # Kahn's algorithm, independently of the code under test: is there a cycle?
    waiting = {i: set(bs) for i, bs in after.items()}
    while ready := [i for i, bs in waiting.items() if not bs]:
        for i in ready:
            del waiting[i]
        for bs in waiting.values():
            bs.difference_update(ready)
    cyclic = bool(waiting)
    gone = [i for i in missing if i < count]
    pipeline = Pipeline(ws, steps)
    if not cyclic and not gone:
        assert pipeline.validate() == []
        return
    with pytest.raises(AmlError) as caught:
        pipeline.validate()
    assert ("cycle" in str(caught.value)) == cyclic
    assert str(caught.value).count("'gone.py' is not in") == len(gone)

"""What parses outside input in datasets, under hypothesis: paths and globs, filter
expressions (built and stored), names and versions. Bad input is an AmlError, never another
exception; a datastore path never leaves its datastore; a filter means what pandas means."""

from __future__ import annotations

import json
import operator
import os
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import Dataset
from aml_jupyter.data.datastore import default_datastore
from aml_jupyter.data.expressions import Column, check, to_arrow
from aml_jupyter.data.sources import list_source, parse_sources, resolve
from aml_jupyter.errors import AmlError
from aml_jupyter.tracking.workspace import Workspace

FUZZ = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
path_text = st.text(st.sampled_from("ab/.*?[]!-_ \\~:%\x00é"), max_size=24)


@FUZZ
@given(text=path_text)
def test_a_datastore_path_stays_inside_its_datastore(ws: Workspace, text: str) -> None:
    store = default_datastore(ws)
    try:
        [source] = parse_sources((store, text))
    except AmlError:
        return
    rel = source["path"]
    assert not rel.startswith("/") and ".." not in rel.split("/")
    resolved = resolve(source, {store.name: store})
    root = os.path.realpath(store.folder)
    assert os.path.realpath(resolved.pattern).startswith(root)
    for entry in list_source(resolved):
        assert os.path.realpath(entry.fs_path).startswith(root)


@FUZZ
@given(text=st.one_of(path_text, st.text(max_size=30)))
def test_any_path_text_is_a_source_or_a_clear_error(text: str) -> None:
    try:
        sources = parse_sources(text)
    except AmlError:
        return
    [source] = sources
    assert set(source) <= {"local", "url"}
    if "local" in source:  # not listed: '/' would be the whole disk
        assert (
            os.path.isabs(source["local"]) and os.path.normpath(source["local"]) == source["local"]
        )


@FUZZ
@given(names=st.lists(st.text("abc.", min_size=1, max_size=4), min_size=1, max_size=6, unique=True))
def test_a_folder_glob_lists_exactly_its_files(tmp_path: Path, names: list[str]) -> None:
    folder = tmp_path / "glob-case"
    if folder.exists():
        for p in sorted(folder.rglob("*"), reverse=True):
            p.unlink() if p.is_file() else p.rmdir()
    folder.mkdir(exist_ok=True)
    made = set()
    for name in names:
        if name in (".", ".."):
            continue
        (folder / name).write_text(name)
        made.add(name)
    if not made:
        return
    listed = Dataset.File.from_files(str(folder / "**")).to_path()
    assert sorted(listed) == sorted(f"/{n}" for n in made)
    assert Dataset.File.from_files(str(folder)).to_path() == listed


COLUMNS = ("a", "b")
OPS = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "le": operator.le,
    "gt": operator.gt,
    "ge": operator.ge,
}


def conditions() -> st.SearchStrategy[Any]:
    leaf = st.tuples(
        st.sampled_from(COLUMNS),
        st.sampled_from(sorted(OPS)),
        st.one_of(st.integers(-3, 3), st.sampled_from(COLUMNS)),
    )
    return st.recursive(
        leaf.map(lambda t: ("cmp", *t)),
        lambda inner: st.one_of(
            st.tuples(st.just("and"), inner, inner),
            st.tuples(st.just("or"), inner, inner),
            st.tuples(st.just("not"), inner),
        ),
        max_leaves=6,
    )


def build(spec: Any, ds: Any) -> Any:
    kind = spec[0]
    if kind == "cmp":
        _, column, op, other = spec
        right = ds[other] if isinstance(other, str) else other
        return OPS[op](ds[column], right)
    if kind == "not":
        return ~build(spec[1], ds)
    left, right = build(spec[1], ds), build(spec[2], ds)
    return left & right if kind == "and" else left | right


def pandas_mask(spec: Any, frame: pd.DataFrame) -> pd.Series:
    kind = spec[0]
    if kind == "cmp":
        _, column, op, other = spec
        right = frame[other] if isinstance(other, str) else other
        return OPS[op](frame[column], right)
    if kind == "not":
        return ~pandas_mask(spec[1], frame)
    left, right = pandas_mask(spec[1], frame), pandas_mask(spec[2], frame)
    return left & right if kind == "and" else left | right


@pytest.fixture(scope="module")
def small_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fuzzcsv") / "t.csv"
    pd.DataFrame({"a": [-3, -1, 0, 1, 2, 3, 2], "b": [0, 1, 0, -2, 3, 3, 1]}).to_csv(
        path, index=False
    )
    return path


@FUZZ
@given(spec=conditions())
def test_a_filter_means_what_pandas_means(small_csv: Path, spec: Any) -> None:
    ds = Dataset.Tabular.from_delimited_files(str(small_csv))
    condition = build(spec, ds)
    tree = json.loads(json.dumps(condition.tree))  # as a registered definition keeps it
    check(tree)
    want = pd.read_csv(small_csv)
    want = want[pandas_mask(spec, want)].reset_index(drop=True)
    got = ds.filter(condition).to_pandas_dataframe()
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    # After a take the filter runs on the stream instead of in the scanner: the same rows.
    got_streamed = ds.take(100).filter(condition).to_pandas_dataframe()
    pd.testing.assert_frame_equal(got_streamed, want, check_dtype=False)


json_values = st.recursive(
    st.one_of(
        st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=5)
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["op", "args", "column", "value", "type"]), inner, max_size=3
        ),
    ),
    max_leaves=10,
)


@FUZZ
@given(tree=json_values)
def test_a_stored_filter_is_checked(tree: Any) -> None:
    try:
        expr = to_arrow(tree)
    except AmlError:
        return
    assert expr is not None


@FUZZ
@given(
    value=st.one_of(
        st.none(),
        st.integers(),
        st.floats(),
        st.text(max_size=4),
        st.lists(st.integers(), max_size=2),
        st.booleans(),
    )
)
def test_comparing_with_any_value(value: Any) -> None:
    try:
        condition = Column("a") > value
    except AmlError:
        return
    check(condition.tree)


@FUZZ
@given(
    name=st.one_of(st.text(max_size=12), st.none(), st.integers()),
    version=st.one_of(
        st.integers(-2, 5), st.text(max_size=4), st.none(), st.booleans(), st.floats()
    ),
)
def test_names_and_versions(ws: Workspace, name: Any, version: Any) -> None:
    if not ws.store.dataset_versions("known"):
        folder = ws.folder / "fuzz-data"
        folder.mkdir(exist_ok=True)
        (folder / "f.txt").write_text("x")
        Dataset.File.from_files(str(folder)).register(ws, "known")
    try:
        got = Dataset.get_by_name(ws, name, version)
    except AmlError:
        return
    assert got.name == name == "known" and got.version == 1
    try:
        Dataset.File.from_files(str(ws.folder / "fuzz-data")).register(ws, name)
    except AmlError:
        pass

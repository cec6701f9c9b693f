"""The grants file a node reads is outside input: whatever its bytes, parse() gives the
grants or an AmlError that repeats no signature; well-formed grants round-trip."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError
from aml_jupyter.data.grants import FORMAT, FileGrant, Grants, InputGrant, dump, parse, shown

SIG = "sig=SECRETSIGNATURE"

names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,20}", fullmatch=True)
file_names = st.lists(
    st.from_regex(r"[a-z0-9][a-z0-9_.-]{0,8}", fullmatch=True), min_size=1, max_size=3
).map("/".join)
shas = st.from_regex(r"[0-9a-f]{64}", fullmatch=True)
urls = st.one_of(
    st.none(),
    st.builds(lambda p: f"https://acct.blob.core.windows.net/c/{p}?sv=1&{SIG}", file_names),
)
files = st.builds(FileGrant, file_names, st.integers(0, 2**40), shas, urls)
inputs = st.builds(
    InputGrant,
    names,
    st.text(min_size=1, max_size=40),
    st.sampled_from(["file", "tabular"]),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.lists(files, max_size=4, unique_by=lambda f: f.name).map(tuple),
    dataset_name=st.text(max_size=20),
    dataset_version=st.integers(1, 10**6),
)
grants = st.builds(
    Grants,
    st.floats(0, 2e9, allow_nan=False),
    st.lists(inputs, max_size=3, unique_by=lambda i: i.name).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(grants)
def test_well_formed_grants_round_trip(made: Grants) -> None:
    assert parse(dump(made)) == made


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)


def _mutated(base: dict[str, Any], path: list[Any], value: Any) -> dict[str, Any]:
    body = json.loads(json.dumps(base))
    node: Any = body
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return body


BASE = json.loads(
    dump(
        Grants(
            1.0,
            (
                InputGrant(
                    "train",
                    "ds1",
                    "file",
                    {},
                    (FileGrant("a/b.csv", 3, "0" * 64, f"https://h/x?{SIG}"),),
                ),
            ),
        )
    )
)
PATHS = [
    ["format"],
    ["version"],
    ["expires"],
    ["inputs"],
    ["inputs", 0],
    ["inputs", 0, "name"],
    ["inputs", 0, "datasetId"],
    ["inputs", 0, "kind"],
    ["inputs", 0, "definition"],
    ["inputs", 0, "files"],
    ["inputs", 0, "files", 0],
    ["inputs", 0, "files", 0, "name"],
    ["inputs", 0, "files", 0, "size"],
    ["inputs", 0, "files", 0, "sha256"],
    ["inputs", 0, "files", 0, "url"],
]


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(PATHS), json_values)
def test_any_field_changed_parses_or_is_a_clear_error(path: list[Any], value: Any) -> None:
    data = json.dumps(_mutated(BASE, path, value)).encode()
    try:
        parsed = parse(data)
    except AmlError as exc:
        assert "grants file" in str(exc) and "SECRET" not in str(exc)
        return
    for item in parsed.inputs:  # what passed is what the node may use
        for grant in item.files:
            assert not grant.name.startswith("/") and ".." not in grant.name.split("/")
            assert grant.url is None or grant.url.startswith(("http://", "https://"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_parse_or_are_a_clear_error(data: bytes) -> None:
    with pytest.raises(AmlError, match="grants file"):
        parse(data)


@pytest.mark.parametrize(
    "name", ["../x", "/etc/passwd", "a/../../b", "", "a//b", "./a", "C:\\x", "a\x00b"]
)
def test_file_names_that_leave_the_folder_are_refused(name: str) -> None:
    body = _mutated(BASE, ["inputs", 0, "files", 0, "name"], name)
    with pytest.raises(AmlError, match="grants file is damaged"):
        parse(json.dumps(body).encode())


@given(st.text(max_size=30), st.text(max_size=30))
def test_a_shown_url_never_holds_its_query(head: str, query: str) -> None:
    assert "?" not in shown(f"https://h/{head}?{query}")
    assert FORMAT == "aml-run-data-grants"

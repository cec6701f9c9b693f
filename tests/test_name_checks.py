"""Property tests for every check of a name, path or hash that comes from outside: each either
returns something safe to use or raises our one AmlError, never another exception."""

from __future__ import annotations

import os
import posixpath
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from aml_jupyter import AmlError
from aml_jupyter.paths import checked_relative_name
from aml_jupyter.store.blobs import check_sha256
from aml_jupyter.store.limits import check_name, check_tags, plain_value
from aml_jupyter.store.run_records import check_run_id, new_run_id
from aml_jupyter.tracking.experiment import check_experiment_name

#: Text with the characters that matter for paths mixed in, surrogates included.
path_text = st.lists(
    st.one_of(
        st.sampled_from(["/", "\\", ".", "..", ":", "C:", "\x00", "~", " ", "\udcff"]),
        st.text(max_size=3),
    ),
    max_size=12,
).map("".join)
anything: Any = st.one_of(path_text, st.none(), st.integers(), st.binary(max_size=8))


@given(anything)
def test_a_checked_relative_name_stays_inside_its_folder(name: Any) -> None:
    try:
        clean = checked_relative_name(name)
    except AmlError:
        return
    base = "/base/folder"
    joined = posixpath.normpath(posixpath.join(base, clean))
    assert joined.startswith(base + "/"), clean
    assert ".." not in clean.split("/") and "\x00" not in clean and clean not in ("", ".")


@given(st.one_of(anything, st.text(alphabet="0123456789abcdefABCDEF\n", min_size=63, max_size=65)))
def test_only_a_sha256_passes_as_a_hash(value: Any) -> None:
    try:
        sha = check_sha256(value)
    except AmlError:
        return
    assert len(sha) == 64 and set(sha) <= set("0123456789abcdef")


@given(anything)
def test_a_run_id_is_a_plain_file_name(run_id: Any) -> None:
    try:
        clean = check_run_id(run_id)
    except AmlError:
        return
    assert os.path.basename(clean) == clean and clean not in (".", "..")
    assert len(clean.encode()) <= 255


@given(anything)
def test_experiment_names_make_valid_run_ids(name: Any) -> None:
    try:
        clean = check_experiment_name(name)
    except AmlError:
        return
    run_id = new_run_id(clean)
    assert check_run_id(run_id) == run_id


@given(anything, st.dictionaries(anything, anything, max_size=4))
def test_names_and_tags_that_pass_encode_as_utf8(name: Any, tags: dict[Any, Any]) -> None:
    for check in (lambda: [check_name(name, "name")], lambda: list(check_tags(tags).items())):
        try:
            values = check()
        except AmlError:
            continue
        for value in values:
            str(value).encode("utf-8")


@given(st.recursive(anything, lambda inner: st.lists(inner, max_size=3), max_leaves=8))
def test_plain_values_are_json_ready(value: Any) -> None:
    import json

    try:
        plain = plain_value(value, "Metric 'm'")
    except AmlError:
        return
    json.dumps(plain).encode("utf-8")

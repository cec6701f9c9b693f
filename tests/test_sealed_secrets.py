"""A run's sealed secrets as outside input: the token a node reads from its disk, the field an
agent reads from a submit request, the key pipe a script is told of. Whatever comes, the answer
is the secrets as sealed or one :class:`AmlError`, and nothing is written on a refusal."""

from __future__ import annotations

import base64
import json
import os
import tempfile
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError, Workspace
from aml_jupyter.compute.local.sealed_secrets import (
    KEY_ENV,
    SEALED_FILE,
    NodeSecrets,
    agent_supervisor_env,
    take_ray_token,
)
from aml_jupyter.store.run_folder import RunFolder
from aml_jupyter.store.sealed_secrets import FORMAT, seal, unseal
from aml_jupyter.tracking import run_secrets
from aml_jupyter.tracking.run_secrets import FD_ENV, SECRETS_ENV

NAMES = st.from_regex(r"[A-Za-z0-9-]{1,20}", fullmatch=True)
VALUES = st.text(max_size=200)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    st.dictionaries(NAMES, VALUES, max_size=8), st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True)
)
def test_sealed_secrets_open_only_with_their_key_and_for_their_run(
    secrets: dict[str, str], run_id: str
) -> None:
    key, token = seal(secrets, run_id)
    assert unseal(token, key, run_id) == secrets
    for value in secrets.values():
        if len(value) >= 8:
            assert value.encode() not in token  # encrypted, not encoded
    with pytest.raises(AmlError, match="another run"):
        unseal(token, key, run_id + "x")
    with pytest.raises(AmlError, match="do not open"):
        unseal(token, Fernet.generate_key(), run_id)


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_as_a_token_are_refused_with_an_aml_error(token: bytes) -> None:
    with pytest.raises(AmlError):
        unseal(token, Fernet.generate_key(), "run")


@FUZZ
@given(JSON)
def test_any_json_under_the_right_key_is_a_clean_dict_or_an_aml_error(body: object) -> None:
    key = Fernet.generate_key()
    for payload in (body, {"format": FORMAT, "run": "r", "secrets": body}):
        token = Fernet(key).encrypt(json.dumps(payload).encode())
        try:
            got = unseal(token, key, "r")
        except AmlError:
            continue
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in got.items())


def test_a_damaged_key_is_an_aml_error() -> None:
    _, token = seal({"a": "b"}, "r")
    with pytest.raises(AmlError, match="not a Fernet key"):
        unseal(token, "short", "r")


@FUZZ
@given(JSON)
def test_an_agent_refuses_any_malformed_secrets_field_writing_nothing(field: object) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = RunFolder(Path(tmp) / "run")
        try:
            env = agent_supervisor_env(folder, field)
        except AmlError:
            assert not folder.root.exists() or not any(folder.root.iterdir())
            return
        assert env[KEY_ENV] == "" and field is None


def test_an_agent_keeps_a_good_field_once_and_never_over_another_runs_token(
    tmp_path: Path,
) -> None:
    key, token = seal({"a": "b"}, "run")
    field = {"key": key, "token": base64.b64encode(token).decode()}
    folder = RunFolder(tmp_path / "run")
    env = agent_supervisor_env(folder, field)
    assert env[KEY_ENV] == key and KEY_ENV not in os.environ
    path = folder.root / SEALED_FILE
    assert path.read_bytes() == token and path.stat().st_mode & 0o777 == 0o600
    with pytest.raises(AmlError, match="sealed secrets already"):
        agent_supervisor_env(folder, {"key": key, "token": base64.b64encode(b"x").decode()})
    assert path.read_bytes() == token
    assert sorted(p.name for p in folder.root.iterdir()) == [SEALED_FILE]  # no partial left


@FUZZ
@given(st.text(max_size=30))
def test_a_script_reads_the_key_only_from_the_pipe_it_was_given(spec: str) -> None:
    with tempfile.TemporaryFile() as other:  # an open file that is not the pipe
        other.write(b"not a key")
        other.flush()
        for candidate in (spec, f"{other.fileno()}:{os.fstat(other.fileno()).st_ino}"):
            with pytest.raises(AmlError, match="no key to the run's secrets"):
                run_secrets._read_key(candidate)
        assert os.fstat(other.fileno())  # still open: never read nor closed


def test_a_script_reads_its_secrets_once_from_the_pipe_then_from_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    node, home = Workspace.create(tmp_path / "node"), Workspace.create(tmp_path / "home")
    home.get_default_keyvault().set_secret("own", "home-value")
    key, token = seal({"db-password": "pw"}, "run-1")
    folder = node.store.run_folder("run-1")
    folder.root.mkdir(parents=True)
    (folder.root / SEALED_FILE).write_bytes(token)
    env, fd = NodeSecrets(folder, key).for_process()
    assert fd is not None and key not in json.dumps(env)
    monkeypatch.setenv("AML_RUN_ID", "run-1")
    monkeypatch.setenv("AML_WORKSPACE", str(node.folder))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(run_secrets, "_opened", {})
    kv = node.get_default_keyvault()
    assert kv.get_secret("db-password") == "pw"
    with pytest.raises(OSError):
        os.fstat(fd)  # the pipe is closed: read once
    assert FD_ENV not in os.environ
    assert kv.get_secrets(["db-password"]) == {"db-password": "pw"}  # from memory
    assert kv.list_secrets() == [{"name": "db-password"}]
    with pytest.raises(AmlError, match=r"No secret named 'nope'.*as it was at submit"):
        kv.get_secret("nope")
    with pytest.raises(AmlError, match="read-only"):
        kv.set_secret("new", "v")  # it would change nothing where the run came from
    assert node.store.secret_names() == []
    # Another workspace opened by the script is its own vault, as anywhere.
    assert home.get_default_keyvault().get_secret("own") == "home-value"
    monkeypatch.setenv(SECRETS_ENV, "")  # the workspace had none: told so
    with pytest.raises(AmlError, match="No secret named 'x' in the key vault"):
        kv.get_secret("x")


def test_a_ray_node_takes_the_token_from_its_package_and_deletes_it(tmp_path: Path) -> None:
    package = tmp_path / "pkg" / "aml_sealed_secrets"
    package.mkdir(parents=True)
    (package / "run-1.sealed").write_bytes(b"token")
    search = [str(tmp_path / "missing"), str(tmp_path / "pkg")]
    assert take_ray_token("run-2", search) is None
    assert take_ray_token("run-1", search) == b"token"
    assert list(package.iterdir()) == []
    assert take_ray_token("run-1", search) is None
    # One in the job's working_dir (the user's snapshot, the cwd) is never taken for ours.
    (tmp_path / "aml_sealed_secrets").mkdir()
    (tmp_path / "aml_sealed_secrets" / "run-1.sealed").write_bytes(b"planted")
    assert Path.cwd().resolve() == tmp_path.resolve()
    assert take_ray_token("run-1", ["", str(tmp_path)]) is None
    assert (tmp_path / "aml_sealed_secrets" / "run-1.sealed").exists()

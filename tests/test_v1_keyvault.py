"""``ws.get_default_keyvault()`` and ``run.get_secret(s)``: secrets kept encrypted, the key a
0600 file outside the workspace, the plain value in no file of the workspace."""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from pathlib import Path

import nbformat
import pytest

from aml_jupyter import AmlError, Experiment, ScriptRunConfig, Workspace
from aml_jupyter.store.secrets import key_folder
from tests.conftest import write
from tests.notebooks import execute


def files_holding(folder: Path, needle: bytes) -> list[Path]:
    """Every file under ``folder`` (the database, its WAL, blobs, run folders) holding
    ``needle``."""
    found = []
    for root, _dirs, names in os.walk(folder):
        for name in names:
            path = Path(root) / name
            if path.is_file() and not path.is_symlink() and needle in path.read_bytes():
                found.append(path)
    return found


def test_keyvault_sets_gets_lists_and_deletes(ws: Workspace) -> None:
    kv = ws.get_default_keyvault()
    kv.set_secret("db-password", "s3cret")
    kv.set_secrets({"api-key": "abc", "token": "t"})
    assert kv.get_secret("db-password") == "s3cret"
    assert kv.get_secrets(["api-key", "token"]) == {"api-key": "abc", "token": "t"}
    assert kv.list_secrets() == [{"name": "api-key"}, {"name": "db-password"}, {"name": "token"}]
    kv.delete_secret("token")
    with pytest.raises(AmlError, match="No secret named 'token'"):
        kv.get_secret("token")
    with pytest.raises(AmlError, match="No secret named 'token' to delete"):
        kv.delete_secret("token")
    assert "s3cret" not in repr(kv)


def test_the_key_is_a_0600_file_outside_the_workspace(ws: Workspace) -> None:
    ws.get_default_keyvault().set_secret("x", "y")
    keys = list(key_folder().iterdir())
    assert len(keys) == 1 and keys[0].name == f"{ws.get_details()['workspaceid']}.key"
    assert stat.S_IMODE(keys[0].stat().st_mode) == 0o600
    assert stat.S_IMODE(key_folder().stat().st_mode) == 0o700
    assert not keys[0].resolve().is_relative_to(ws.folder)

    keys[0].chmod(0o644)  # readable by others: refused, saying how to fix it
    with pytest.raises(AmlError, match="chmod 600"):
        ws.get_default_keyvault().get_secret("x")
    keys[0].unlink()  # another machine, without the key: a clear error, no garbage
    with pytest.raises(AmlError, match="key this machine does not have"):
        ws.get_default_keyvault().get_secret("x")


def test_a_secret_is_in_no_file_of_the_workspace_nor_the_run_log(
    ws: Workspace, project: Path
) -> None:
    value = f"plain-{secrets.token_hex(16)}"
    ws.get_default_keyvault().set_secret("db-password", value)
    write(
        project,
        "use_secret.py",
        """
        import hashlib
        from azureml.core import Run
        run = Run.get_context()
        got = run.get_secret("db-password")
        both = run.get_secrets(["db-password"])
        assert both == {"db-password": got}
        run.log("secret_sha", hashlib.sha256(got.encode()).hexdigest())
        print("used the secret")
        """,
    )
    run = Experiment(ws, "secrets").submit(ScriptRunConfig(project, "use_secret.py"))
    details = run.wait_for_completion()
    assert run.get_metrics()["secret_sha"] == hashlib.sha256(value.encode()).hexdigest()
    assert "used the secret" in run.read_log()
    assert details["status"] == "Completed"
    assert files_holding(ws.folder, value.encode()) == []
    assert files_holding(project, value.encode()) == []


def test_a_notebook_uses_the_keyvault_as_v1(aml_kernel: str, tmp_path: Path) -> None:
    Workspace.create(tmp_path)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from azureml.core import Workspace\n"
            "kv = Workspace.from_config().get_default_keyvault()\n"
            "kv.set_secret(name='storage-key', value='nb-' + 'value-42')\n"
            "print(kv.list_secrets(), kv.get_secret('storage-key') == 'nb-value-42')"
        )
    ]
    execute(nb, tmp_path, aml_kernel)
    text = "".join(o.get("text", "") for o in nb.cells[0].outputs)
    assert "[{'name': 'storage-key'}] True" in text
    assert files_holding(tmp_path / ".aml", b"nb-value-42") == []

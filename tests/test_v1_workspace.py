"""A v1 project folder works as it is: ``Workspace.from_config()`` reads v1's config.json,
``Workspace.get``, ``write_config``, ``get_details`` and the attributes notebooks print."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aml_jupyter import AmlError, Workspace
from aml_jupyter.tracking.v1_config import parse_v1_config
from tests.notebooks import execute

V1 = {"subscription_id": "1234-abcd", "resource_group": "rg-ml", "workspace_name": "ml-ws"}


def write_json(path: Path, data: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("where", ["config.json", ".azureml/config.json", "aml_config/config.json"])
def test_from_config_opens_a_workspace_for_a_v1_config(
    tmp_path: Path, where: str, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "proj"
    write_json(project / where, V1)
    (project / "src" / "deep").mkdir(parents=True)

    ws = Workspace.from_config(project / "src" / "deep")  # found in a parent folder
    said = capsys.readouterr().out.splitlines()
    assert ws.folder == project / ".aml"
    assert len(said) == 1 and said[0].startswith("Created the local workspace 'ml-ws' in")
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == (
        "ml-ws",
        "1234-abcd",
        "rg-ml",
        "local",
    )
    again = Workspace.from_config(project)
    assert again is ws and capsys.readouterr().out == ""  # opened, not created: nothing said


def test_the_nearest_folder_wins_and_other_config_json_files_are_passed_over(
    tmp_path: Path,
) -> None:
    outer = Workspace.create(tmp_path)
    write_json(tmp_path / "a" / "config.json", {"compilerOptions": {}})  # not a v1 config
    assert Workspace.from_config(tmp_path / "a") == outer
    write_json(tmp_path / "a" / "b" / "config.json", V1)
    inner = Workspace.from_config(tmp_path / "a" / "b")
    assert inner != outer and inner.name == "ml-ws" and outer.name == tmp_path.name


def test_the_portal_s_older_scope_config_is_read(tmp_path: Path) -> None:
    scope = (
        "/subscriptions/sub-1/resourceGroups/group-1/providers/"
        "Microsoft.MachineLearningServices/workspaces/old-ws"
    )
    write_json(tmp_path / "config.json", {"Id": None, "Scope": scope})
    ws = Workspace.from_config()
    assert (ws.name, ws.subscription_id, ws.resource_group) == ("old-ws", "sub-1", "group-1")


def test_a_bad_v1_config_named_explicitly_says_what_is_wrong(tmp_path: Path) -> None:
    bad = write_json(tmp_path / "cfg.json", {"workspace_name": "../etc"})
    with pytest.raises(AmlError, match="is not a workspace name"):
        Workspace.from_config(bad)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(AmlError, match="is not valid JSON"):
        Workspace.from_config(tmp_path / "broken.json")
    assert not (tmp_path / ".aml").exists()  # nothing half-made
    with pytest.raises(AmlError, match=r"v1 config\.json"):
        Workspace.from_config(tmp_path / "nothing-here-either")


def test_a_workspace_without_v1_config_has_documented_local_values(ws: Workspace) -> None:
    assert (ws.subscription_id, ws.resource_group, ws.location) == ("local", "local", "local")
    details = ws.get_details()
    assert details["name"] == ws.name and details["path"] == str(ws.folder)
    assert details["id"].startswith("/subscriptions/local/resourceGroups/local/providers/")
    again = ws.get_details()
    assert details["workspaceid"] == again["workspaceid"]  # kept, not made anew
    assert details["creationTime"] == again["creationTime"] and details["creationTime"]
    assert details["kind"] == details["type"] == "local"


def test_datastores_start_with_the_workspace_folder_store(ws: Workspace) -> None:
    assert list(ws.datastores) == ["workspaceblobstore"]
    default = ws.get_default_datastore()
    assert default.name == "workspaceblobstore" and default == ws.datastores["workspaceblobstore"]


def test_write_config_then_from_config_elsewhere_opens_the_same_workspace(
    ws: Workspace, tmp_path: Path
) -> None:
    written = Path(ws.write_config(path=tmp_path / "other"))
    assert written == tmp_path / "other" / ".azureml" / "config.json"
    data = json.loads(written.read_text())
    assert data["workspace_name"] == ws.name and data["resource_group"] == "local"
    assert Workspace.from_config(tmp_path / "other") == ws
    assert not (tmp_path / "other" / ".aml").exists()
    named = Path(ws.write_config(path=tmp_path / "third", file_name="ws.json"))
    assert named.name == "ws.json"
    assert Workspace.from_config(tmp_path / "third", _file_name="ws.json") == ws
    with pytest.raises(AmlError, match="plain file name"):
        ws.write_config(file_name="../x.json")


def test_get_finds_the_workspace_by_name(tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", V1)
    ws = Workspace.get("ml-ws", subscription_id="1234-abcd", resource_group="rg-ml")
    assert ws.folder == tmp_path / ".aml"
    with pytest.raises(AmlError, match="resource_group='rg-ml'"):
        Workspace.get("ml-ws", resource_group="another")
    with pytest.raises(AmlError, match="No local workspace named 'nope'"):
        Workspace.get("nope")
    made = Workspace.create("made")
    assert Workspace.get("made") == made


names = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,40}", fullmatch=True)
texts = st.text(min_size=1, max_size=60).filter(lambda t: t.strip() == t and t.strip())


@given(name=names, sub=st.none() | texts, group=st.none() | texts)
def test_a_valid_v1_config_reads_back_what_it_holds(
    name: str, sub: str | None, group: str | None
) -> None:
    data = {"workspace_name": name, "subscription_id": sub, "resource_group": group}
    config = parse_v1_config(json.dumps(data), Path("/p/.azureml/config.json"))
    assert (config.workspace_name, config.subscription_id, config.resource_group) == (
        name,
        sub,
        group,
    )
    assert config.project_folder == Path("/p")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=12,
)
v1_keys = st.sampled_from(["workspace_name", "subscription_id", "resource_group", "Scope"])


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=200),
        json_values.map(json.dumps),
        st.dictionaries(v1_keys, json_values, max_size=4).map(json.dumps),
    )
)
def test_any_file_reads_as_a_config_or_fails_as_aml_error(text: str | bytes) -> None:
    try:
        config = parse_v1_config(text, Path("config.json"))
    except AmlError as exc:
        assert "config.json" in str(exc)
        return
    assert config.workspace_name and "/" not in config.workspace_name


def test_a_notebook_in_a_v1_project_folder_runs_as_it_is(aml_kernel: str, tmp_path: Path) -> None:
    write_json(tmp_path / "config.json", V1)
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from azureml.core import Workspace\n"
            "ws = Workspace.from_config()\n"
            "print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep='\\n')"
        )
    ]
    execute(nb, tmp_path, aml_kernel)
    lines = "".join(o.get("text", "") for o in nb.cells[0].outputs).splitlines()
    assert lines[-4:] == ["ml-ws", "rg-ml", "local", "1234-abcd"]
    assert any(line.startswith("Created the local workspace 'ml-ws'") for line in lines)
    assert (tmp_path / ".aml" / "aml.db").exists()


def test_create_in_v1_s_form_keeps_its_values(tmp_path: Path) -> None:
    ws = Workspace.create(
        name="myworkspace",
        subscription_id="sub-9",
        resource_group="myresourcegroup",
        create_resource_group=True,
        location="eastus2",
    )
    assert ws.folder == tmp_path / "myworkspace" / ".aml"
    assert (ws.name, ws.subscription_id, ws.resource_group, ws.location) == (
        "myworkspace",
        "sub-9",
        "myresourcegroup",
        "eastus2",
    )
    assert Workspace.get("myworkspace", resource_group="myresourcegroup") == ws


def test_the_magics_and_cli_use_the_v1_project_s_workspace_too(tmp_path: Path) -> None:
    # What %aml_submit and `aml` open (from_config_or_create): the config's, not a new ./.aml.
    write_json(tmp_path / "config.json", V1)
    (tmp_path / "notebooks").mkdir()
    ws, created = Workspace.from_config_or_create(tmp_path / "notebooks")
    assert ws.folder == tmp_path / ".aml" and created and ws.name == "ml-ws"
    again, created = Workspace.from_config_or_create(tmp_path / "notebooks")
    assert again is ws and not created
    assert not (tmp_path / "notebooks" / ".aml").exists()


@settings(max_examples=40, deadline=None)
@given(
    depth=st.integers(0, 4),
    level=st.integers(0, 4),
    where=st.sampled_from([".azureml", "aml_config", ""]),
    decoy_above=st.booleans(),
)
def test_from_config_opens_the_nearest_v1_project_s_workspace(
    tmp_path_factory: pytest.TempPathFactory, depth: int, level: int, where: str, decoy_above: bool
) -> None:
    root = tmp_path_factory.mktemp("tree")
    folders = [root]
    for i in range(depth):
        folders.append(folders[-1] / f"d{i}")
    folders[-1].mkdir(parents=True, exist_ok=True)
    project = folders[min(level, depth)]
    write_json(project / where / "config.json" if where else project / "config.json", V1)
    if decoy_above and project != root:  # a farther v1 project never wins over the nearer one
        write_json(root / "config.json", {**V1, "workspace_name": "farther"})
    ws = Workspace.from_config(folders[-1])
    assert ws.folder == project / ".aml" and ws.name == "ml-ws"

"""What every workspace store backend must do, checked through the interface only.

The ``store`` fixture is parametrised over the backends (only the embedded SQLite + folder
store today); a team-server backend joins the list and must pass the same tests.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from aml_jupyter import Workspace
from aml_jupyter.errors import AmlError
from aml_jupyter.status import RunStatus
from aml_jupyter.store import (
    ComputeTargetRecord,
    ExperimentRecord,
    FileRecord,
    RunRecord,
    WorkspaceStore,
    open_store,
)
from aml_jupyter.store.limits import MAX_TAG_VALUE_CHARS, MAX_TAGS
from aml_jupyter.store.service_folder import ServiceFolder
from aml_jupyter.store.types import ServiceRecord


def _embedded(tmp_path: Path) -> WorkspaceStore:
    return open_store(tmp_path / ".aml", create=True)


BACKENDS: dict[str, Callable[[Path], WorkspaceStore]] = {"embedded": _embedded}


@pytest.fixture(params=sorted(BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkspaceStore]:
    backend = BACKENDS[request.param](tmp_path)
    yield backend
    backend.close()


def ids(records: list[RunRecord]) -> list[str]:
    return [r.id for r in records]


def new_run(store: WorkspaceStore, experiment: str = "e", **kwargs: object) -> str:
    status = str(kwargs.pop("status", RunStatus.NOT_STARTED))
    run_type = str(kwargs.pop("run_type", "azureml.scriptrun"))
    return store.create_run(experiment, run_type, status, **kwargs)  # type: ignore[arg-type]


# addresses ------------------------------------------------------------------------------------
@pytest.mark.parametrize("address", ["http://team:8080", "https://aml.example.org/ws"])
def test_a_server_address_says_the_server_is_not_there_yet(address: str) -> None:
    with pytest.raises(AmlError, match="team workspace server"):
        open_store(address)
    with pytest.raises(AmlError, match="team workspace server"):
        Workspace(address)  # the workspace picks its store by the address


# experiments ----------------------------------------------------------------------------------
def test_experiments_are_listed_with_their_top_level_runs(store: WorkspaceStore) -> None:
    store.ensure_experiment("a")
    store.ensure_experiment("a")  # twice is fine
    parent = new_run(store, "b")
    new_run(store, "b", parent_id=parent)
    assert store.experiment_names() == ["a", "b"]
    summaries = store.experiment_summaries()
    assert [type(s) for s in summaries] == [ExperimentRecord, ExperimentRecord]
    a, b = summaries
    assert (a.name, a.run_count, a.last_run_utc) == ("a", 0, None)
    assert (b.name, b.run_count) == ("b", 1)  # the child is not counted
    assert b.last_run_utc == store.get_run(parent).created_utc


# runs -----------------------------------------------------------------------------------------
def test_a_created_run_reads_back_as_a_typed_record(store: WorkspaceStore) -> None:
    run_id = new_run(
        store,
        "train",
        target="local",
        definition={"script": "train.py", "arguments": ["--lr", 0.1]},
        display_name="first try",
    )
    record = store.get_run(run_id)
    assert isinstance(record, RunRecord)
    assert record.id == run_id and run_id.startswith("train_")
    assert (record.experiment, record.number, record.run_type) == ("train", 1, "azureml.scriptrun")
    assert (record.status, record.target, record.display_name) == (
        "NotStarted",
        "local",
        "first try",
    )
    assert record.definition == {"script": "train.py", "arguments": ["--lr", 0.1]}
    assert record.parent_id is None and record.error is None and record.exit_code is None
    assert record.started_utc is None and record.ended_utc is None
    assert record.created_utc > 0
    assert store.get_run(new_run(store, "train")).number == 2
    with pytest.raises(TypeError):
        record["status"]  # type: ignore[index]  # records are not rows


def test_run_ids_are_checked_unique_and_found_by_prefix(store: WorkspaceStore) -> None:
    new_run(store, run_id="exp_1_aaaa")
    new_run(store, run_id="exp_1_aabb")
    with pytest.raises(AmlError, match="exists already"):
        new_run(store, run_id="exp_1_aaaa")
    with pytest.raises(AmlError, match="not allowed"):
        new_run(store, run_id="../escape")
    assert sorted(store.find_run_ids("exp_1_aa")) == ["exp_1_aaaa", "exp_1_aabb"]
    assert store.find_run_ids("exp_1_aab") == ["exp_1_aabb"]
    assert store.find_run_ids("nope") == []
    with pytest.raises(AmlError, match="aml run list"):
        store.get_run("nope")


def test_a_run_that_never_started_can_be_deleted(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    store.set_tags(run_id, {"a": "1"})
    store.add_files(run_id, [("outputs/x", "0" * 64, 1)])
    store.delete_run(run_id)
    with pytest.raises(AmlError):
        store.get_run(run_id)
    assert store.count_runs() == 0 and store.get_tags(run_id) == {}


def test_typed_updates_set_only_what_is_given(store: WorkspaceStore) -> None:
    run_id = new_run(store, display_name="old")
    store.update_run(run_id, description="about it", snapshot_id="s" * 64)
    store.update_run(run_id, error={"code": "UserError", "message": "boom"}, child_pid=4242)
    record = store.get_run(run_id)
    assert record.display_name == "old"  # not given: kept
    assert record.description == "about it" and record.snapshot_id == "s" * 64
    assert record.error == {"code": "UserError", "message": "boom"}
    assert record.child_pid == 4242
    store.update_run(run_id, display_name="new")
    assert store.get_run(run_id).display_name == "new"


def test_status_moves_until_the_run_ends(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    assert store.set_status(run_id, RunStatus.QUEUED)
    assert store.set_status(run_id, RunStatus.RUNNING)
    running = store.get_run(run_id)
    assert running.status == "Running" and running.started_utc is not None
    assert running.ended_utc is None
    assert store.set_status(
        run_id, RunStatus.FAILED, error={"code": "X", "message": "m"}, exit_code=3
    )
    ended = store.get_run(run_id)
    assert (ended.status, ended.exit_code, ended.error) == (
        "Failed",
        3,
        {"code": "X", "message": "m"},
    )
    assert ended.ended_utc is not None and ended.ended_utc >= running.started_utc
    # An ended run stays as it ended.
    assert not store.set_status(run_id, RunStatus.RUNNING)
    assert not store.set_status(run_id, RunStatus.COMPLETED)
    assert store.get_run(run_id).status == "Failed"


def test_a_cancel_request_sticks_until_the_run_ends(store: WorkspaceStore) -> None:
    run_id = new_run(store, status=RunStatus.QUEUED)
    assert store.set_status(run_id, RunStatus.CANCEL_REQUESTED)
    for later in (RunStatus.PREPARING, RunStatus.STARTING, RunStatus.RUNNING):
        assert not store.set_status(run_id, later)
        assert store.get_run(run_id).status == "CancelRequested"
    assert store.set_status(run_id, RunStatus.CANCELED)
    assert store.get_run(run_id).status == "Canceled"


# listing --------------------------------------------------------------------------------------
@pytest.fixture
def listed(store: WorkspaceStore) -> dict[str, str]:
    """Five top-level runs in two experiments, two children; newest last."""
    made = {
        "a1": new_run(store, "a", display_name="alpha one", definition={"script": "train.py"}),
        "a2": new_run(store, "a", status=RunStatus.RUNNING),
        "b1": new_run(store, "b", run_type="interactive"),
        "a3": new_run(store, "a"),
        "b2": new_run(store, "b"),
    }
    made["c1"] = new_run(store, "a", parent_id=made["a2"], run_type="child")
    made["c2"] = new_run(store, "a", parent_id=made["a2"], run_type="child")
    store.set_status(made["a1"], RunStatus.COMPLETED)
    store.set_status(made["a3"], RunStatus.FAILED)
    store.set_tags(made["a1"], {"stage": "prod", "team": "vision"})
    store.set_tags(made["b2"], {"stage": "dev"})
    store.add_properties(made["a3"], {"origin": "sweep"})
    return made


def test_runs_are_listed_newest_first_top_level_only(
    store: WorkspaceStore, listed: dict[str, str]
) -> None:
    top = ["b2", "a3", "b1", "a2", "a1"]
    assert ids(store.list_runs()) == [listed[k] for k in top]
    assert ids(store.list_runs(descending=False)) == [listed[k] for k in reversed(top)]
    assert len(store.list_runs(include_children=True)) == 7
    assert ids(store.list_runs(parent_id=listed["a2"], descending=False)) == [
        listed["c1"],
        listed["c2"],
    ]
    assert store.count_runs() == 5 and store.count_runs(include_children=True) == 7


def test_runs_are_filtered_by_every_field(store: WorkspaceStore, listed: dict[str, str]) -> None:
    cases: list[tuple[dict[str, object], list[str]]] = [
        ({"experiment": "a"}, ["a3", "a2", "a1"]),
        ({"status": "Completed"}, ["a1"]),
        ({"status": ["Completed", "Failed"]}, ["a3", "a1"]),
        ({"tags": {"stage": None}}, ["b2", "a1"]),
        ({"tags": {"stage": "prod"}}, ["a1"]),
        ({"tags": {"stage": "prod", "team": "nope"}}, []),
        ({"properties": {"origin": "sweep"}}, ["a3"]),
        ({"run_type": "interactive"}, ["b1"]),
        ({"text": "ALPHA"}, ["a1"]),  # the display name, in any case
        ({"text": "train.py"}, ["a1"]),  # the script
        ({"text": "vision"}, ["a1"]),  # a tag
        ({"experiment": "b", "tags": {"stage": "dev"}}, ["b2"]),
    ]
    for filters, expected in cases:
        assert ids(store.list_runs(**filters)) == [listed[k] for k in expected], filters  # type: ignore[arg-type]
        assert store.count_runs(**filters) == len(expected), filters  # type: ignore[arg-type]


def test_runs_are_sorted_and_paged(store: WorkspaceStore, listed: dict[str, str]) -> None:
    everything = ids(store.list_runs())
    pages = [ids(store.list_runs(limit=2, offset=o)) for o in (0, 2, 4, 6)]
    assert pages[0] + pages[1] + pages[2] == everything and pages[3] == []
    assert len(pages[2]) == 1
    by_number = store.list_runs(experiment="a", sort="number", descending=False)
    assert [r.number for r in by_number] == [1, 2, 3]
    assert ids(store.list_runs(sort="started", limit=1)) == [listed["a2"]]  # the only one started
    with pytest.raises(AmlError, match="Cannot sort"):
        store.list_runs(sort="color")


def test_a_page_of_runs_comes_with_its_tags_when_asked(
    store: WorkspaceStore, listed: dict[str, str]
) -> None:
    plain = store.list_runs(limit=5)
    assert all(r.tags is None for r in plain)
    tagged = {r.id: r.tags for r in store.list_runs(limit=5, with_tags=True)}
    assert tagged[listed["a1"]] == {"stage": "prod", "team": "vision"}
    assert tagged[listed["b2"]] == {"stage": "dev"}
    assert tagged[listed["b1"]] == {}


# tags and properties --------------------------------------------------------------------------
def test_tags_are_set_overwritten_removed_and_read_in_pages(store: WorkspaceStore) -> None:
    one, two = new_run(store), new_run(store)
    store.set_tags(one, {"a": "1", "b": None, "n": 5})
    store.set_tags(one, {"a": "2"})
    assert store.get_tags(one) == {"a": "2", "b": None, "n": "5"}
    store.remove_tags(one, ["b", "unknown"])
    assert store.get_tags(one) == {"a": "2", "n": "5"}
    store.set_tags(two, {"long": "x" * 100})
    page = store.tags_of([one, two, "missing"], max_chars=10)
    assert page[one] == {"a": "2", "n": "5"}
    assert page[two]["long"] == "x" * 11  # cut to max_chars + 1: the caller sees it was cut
    assert "missing" not in page
    assert store.tags_of([two])[two]["long"] == "x" * 100


def test_tags_beyond_the_limits_are_refused_whole(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    with pytest.raises(AmlError):
        store.set_tags(run_id, {"ok": "1", "big": "x" * (MAX_TAG_VALUE_CHARS + 1)})
    with pytest.raises(AmlError):
        store.set_tags(run_id, {"": "empty name"})
    with pytest.raises(AmlError):
        store.set_tags(run_id, {f"k{i}": "v" for i in range(MAX_TAGS + 1)})  # one over the count
    assert store.get_tags(run_id) == {}  # nothing of a refused write is kept


def test_properties_are_immutable(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    store.add_properties(run_id, {"git": "abc", "n": 1})
    store.add_properties(run_id, {"git": "abc"})  # the same value again is fine
    with pytest.raises(AmlError, match="immutable"):
        store.add_properties(run_id, {"git": "def"})
    assert store.get_properties(run_id) == {"git": "abc", "n": "1"}


# files and metric summaries -------------------------------------------------------------------
def test_run_files_are_recorded_by_name(store: WorkspaceStore) -> None:
    run_id = new_run(store)
    sha = hashlib.sha256(b"x").hexdigest()
    store.add_files(run_id, [("outputs/b.txt", sha, 1), ("outputs/a.txt", sha, 1)])
    store.add_files(run_id, [("outputs/b.txt", "0" * 64, 7)])  # added again: replaced
    assert store.list_files(run_id) == [
        FileRecord("outputs/a.txt", sha, 1),
        FileRecord("outputs/b.txt", "0" * 64, 7),
    ]
    assert store.get_file(run_id, "outputs/a.txt") == FileRecord("outputs/a.txt", sha, 1)
    assert store.get_file(run_id, "outputs/none") is None


def test_metric_summaries_keep_the_last_values(store: WorkspaceStore) -> None:
    one, two = new_run(store), new_run(store)
    store.save_metric_summary(one, {"loss": (0.5, 10), "name": ("best", 1)})
    store.save_metric_summary(one, {"loss": (0.25, 11)})  # replaces the old summary
    store.save_metric_summary(two, {"acc": ([1, 2], 2)})
    assert store.metric_summaries([one, two, "missing"]) == {
        one: {"loss": 0.25},
        two: {"acc": [1, 2]},
    }


# environments, snapshots, compute targets -----------------------------------------------------
def test_environment_versions_change_only_with_the_spec(store: WorkspaceStore) -> None:
    spec = {"python": {"pip": ["numpy"]}}
    assert store.register_environment("env", "h1", spec) == 1
    assert store.register_environment("env", "h1", spec) == 1  # the same spec
    assert store.register_environment("env", "h2", {"python": {"pip": ["torch"]}}) == 2
    assert store.register_environment("other", "h3", {}) == 1
    latest = store.get_environment("env")
    assert latest is not None and (latest.version, latest.hash) == (2, "h2")
    assert latest.spec == {"python": {"pip": ["torch"]}}
    first = store.get_environment("env", 1)
    assert first is not None and first.spec == spec
    assert store.get_environment("env", 9) is None and store.get_environment("none") is None
    assert store.environment_versions() == [("env", 1), ("env", 2), ("other", 1)]


def test_file_hashes_are_remembered(store: WorkspaceStore) -> None:
    store.cache_hashes([("/p/a", 1, 2, 3, "a" * 64), ("/p/b", 4, 5, 6, "b" * 64)])
    store.cache_hashes([("/p/a", 7, 8, 9, "c" * 64)])
    known = store.cached_hashes(["/p/a", "/p/b", "/p/none"])
    assert sorted(known) == ["/p/a", "/p/b"]
    assert (known["/p/a"].size, known["/p/a"].mtime_ns, known["/p/a"].inode) == (7, 8, 9)
    assert known["/p/a"].sha256 == "c" * 64
    store.add_snapshot("d" * 64, 2, 5)
    store.add_snapshot("d" * 64, 2, 5)  # the same snapshot again is fine


def test_compute_targets_are_attached_and_detached(store: WorkspaceStore) -> None:
    assert store.compute_targets() == [ComputeTargetRecord("local", "local", {})]
    store.attach_compute_target("gpu-box", "ComputeInstance", {"address": "http://h:1"})
    store.attach_compute_target("gpu-box", "ComputeInstance", {"address": "http://h:2"})
    assert store.compute_targets() == [
        ComputeTargetRecord("gpu-box", "ComputeInstance", {"address": "http://h:2"}),
        ComputeTargetRecord("local", "local", {}),
    ]
    assert store.detach_compute_target("gpu-box")
    assert not store.detach_compute_target("gpu-box")
    assert [t.name for t in store.compute_targets()] == ["local"]


# models ---------------------------------------------------------------------------------------
def add_model(store: WorkspaceStore, name: str, **kwargs: object) -> int:
    fields: dict[str, object] = {"manifest": "m" * 64, "path": "model.pkl", "is_folder": False}
    fields.update({"size": 10, "file_count": 1}, **kwargs)
    return store.add_model(name, **fields)  # type: ignore[arg-type]


def test_models_get_versions_tags_properties_and_lineage(store: WorkspaceStore) -> None:
    run_id = new_run(store, "train")
    assert add_model(store, "clf", tags={"stage": "dev"}, properties={"acc": 0.9}) == 1
    assert add_model(store, "clf", run_id=run_id, experiment="train", framework="ScikitLearn") == 2
    assert add_model(store, "reg", is_folder=True, file_count=3, description="a folder") == 1
    latest = store.get_model("clf")
    assert latest is not None and latest.version == 2
    assert (latest.run_id, latest.experiment, latest.framework) == (run_id, "train", "ScikitLearn")
    first = store.get_model("clf", 1)
    assert first is not None and first.is_folder is False and first.size == 10
    folder = store.get_model("reg")
    assert folder is not None and folder.is_folder and folder.description == "a folder"
    assert store.get_model("clf", 7) is None and store.get_model("none") is None
    assert store.model_tags("clf", 1) == {"stage": "dev"}
    assert store.model_properties("clf", 1) == {"acc": "0.9"}

    def found(**filters: object) -> list[tuple[str, int]]:
        return [(m.name, m.version) for m in store.find_models(**filters)]  # type: ignore[arg-type]

    assert found() == [("reg", 1), ("clf", 2), ("clf", 1)]
    assert found(name="clf") == [("clf", 2), ("clf", 1)]
    assert found(latest=True) == [("reg", 1), ("clf", 2)]
    assert found(tags=[("stage", None)]) == [("clf", 1)]
    assert found(tags=[("stage", "prod")]) == []
    assert found(properties=[("acc", "0.9")]) == [("clf", 1)]
    assert found(run_id=run_id) == [("clf", 2)]


def test_model_tags_description_and_deletion(store: WorkspaceStore) -> None:
    add_model(store, "clf", tags={"a": "1"}, properties={"p": "1"})
    store.set_model_tags("clf", 1, {"b": "2", "a": "3"})
    store.remove_model_tags("clf", 1, ["b"])
    assert store.model_tags("clf", 1) == {"a": "3"}
    store.add_model_properties("clf", 1, {"p": "changed", "q": "2"})  # write-once: p stays
    assert store.model_properties("clf", 1) == {"p": "1", "q": "2"}
    store.set_model_description("clf", 1, "better")
    model = store.get_model("clf", 1)
    assert model is not None and model.description == "better"
    store.delete_model("clf", 1)
    assert store.get_model("clf") is None and store.model_tags("clf", 1) == {}


# services -------------------------------------------------------------------------------------
class TestServices:
    """Deployed scoring services: records by name, and each one's live folder."""

    SPEC = {"port": 8890, "workers": 2, "models": ["clf:1"], "entry_script": None}

    def test_a_service_is_added_read_listed_and_updated(self, store: WorkspaceStore) -> None:
        added = store.add_service("b-svc", self.SPEC)
        store.add_service("a-svc", {**self.SPEC, "port": 8891})
        assert isinstance(added, ServiceRecord) and added.created_utc == added.updated_utc
        record = store.get_service("b-svc")
        assert record is not None and (record.name, dict(record.spec)) == ("b-svc", self.SPEC)
        assert record.created_utc == added.created_utc
        assert [r.name for r in store.list_services()] == ["a-svc", "b-svc"]  # by name
        assert store.get_service("c-svc") is None
        updated = store.update_service("b-svc", {**self.SPEC, "workers": 3})
        assert updated.spec["workers"] == 3 and updated.updated_utc >= updated.created_utc
        reread = store.get_service("b-svc")
        assert reread is not None and reread.spec["workers"] == 3
        assert reread.created_utc == added.created_utc  # updating keeps when it was made

    def test_a_name_in_use_or_unknown_is_refused(self, store: WorkspaceStore) -> None:
        store.add_service("svc", self.SPEC)
        with pytest.raises(AmlError, match="exists already"):
            store.add_service("svc", {**self.SPEC, "port": 1})
        record = store.get_service("svc")
        assert record is not None and record.spec["port"] == 8890  # the first one stays
        with pytest.raises(AmlError, match="No service 'nope'"):
            store.update_service("nope", self.SPEC)
        assert store.get_service("nope") is None  # an update never creates one
        for bad in ("../up", "a/b", ".hidden", ""):
            with pytest.raises(AmlError, match="not allowed"):
                store.service_folder(bad)
            with pytest.raises(AmlError, match="not allowed"):
                store.add_service(bad, self.SPEC)

    def test_a_service_folder_holds_its_live_files(self, store: WorkspaceStore) -> None:
        store.add_service("svc", self.SPEC)
        files = store.service_folder("svc")
        assert isinstance(files, ServiceFolder) and not files.exists()
        assert files.read_pid() == (None, None) and files.stats_files() == []
        staged = files.incoming()
        (staged.source_folder / "score.py").parent.mkdir(parents=True)
        (staged.source_folder / "score.py").write_text("def run(x): return x\n")
        files.publish(staged)
        assert files.exists() and not staged.root.exists()
        assert (files.source_folder / "score.py").is_file()
        files.write_pid(4242, "123.5")
        assert files.read_pid() == (4242, "123.5")
        files.ready_flag.touch()
        files.stats_folder.mkdir()
        files.stats_file(7).write_text("[1, 2.0, 200]\n")
        files.stats_file(8).write_text("[1, 3.0, 500]\n")
        assert [p.name for p in files.stats_files()] == ["7.jsonl", "8.jsonl"]
        files.clear_process_files()
        assert files.read_pid() == (None, None) and not files.ready_flag.exists()
        other = store.service_folder("other")
        assert other.root != files.root and not other.root.is_relative_to(files.root)

    def test_deleting_forgets_the_record_and_its_folder(self, store: WorkspaceStore) -> None:
        store.add_service("svc", self.SPEC)
        files = store.service_folder("svc")
        files.publish(files.incoming())
        files.log.write_text("a line\n")
        store.delete_service("svc")
        assert store.get_service("svc") is None and store.list_services() == []
        assert not files.exists()
        store.delete_service("svc")  # twice is fine
        assert store.add_service("svc", self.SPEC).name == "svc"  # the name is free again


# experiments: tags, archiving, finding; the workspace's settings --------------------------------
def test_experiments_are_found_by_name_archived_state_and_tags(store: WorkspaceStore) -> None:
    for name in ("a", "b", "c"):
        store.ensure_experiment(name)
    store.set_experiment_tags("a", {"team": "x", "flag": None})
    store.set_experiment_tags("b", {"team": "y"})
    store.set_experiment_archived("c", True)

    def names(**kwargs: object) -> list[str]:
        return [e.name for e in store.find_experiments(**kwargs)]  # type: ignore[arg-type]

    assert names() == ["a", "b"]
    assert names(archived=True) == ["c"]
    assert names(archived=None) == ["a", "b", "c"]
    assert names(tags={"team": None}) == ["a", "b"]
    assert names(tags={"team": "y"}) == ["b"]
    assert names(tags={"team": "x", "flag": None}) == ["a"]
    assert names(name="c", archived=None) == ["c"]
    assert [e.archived for e in store.experiment_summaries()] == [False, False, True]
    store.set_experiment_archived("c", False)
    assert names() == ["a", "b", "c"]


def test_experiment_tags_are_set_replaced_and_removed(store: WorkspaceStore) -> None:
    store.ensure_experiment("e")
    store.set_experiment_tags("e", {"k": 1, "v": "x"})
    store.set_experiment_tags("e", {"k": "2"})
    assert store.experiment_tags("e") == {"k": "2", "v": "x"}
    store.remove_experiment_tags("e", ["k", "unknown"])
    assert store.experiment_tags("e") == {"v": "x"}
    with pytest.raises(AmlError):
        store.set_experiment_tags("e", {"ok": "1", "": "empty key"})
    assert store.experiment_tags("e") == {"v": "x"}  # all or nothing
    with pytest.raises(AmlError, match="No experiment named 'nope'"):
        store.set_experiment_tags("nope", {"k": "v"})
    with pytest.raises(AmlError, match="No experiment named 'nope'"):
        store.set_experiment_archived("nope", True)


def test_workspace_settings_are_kept_and_set_once_on_request(store: WorkspaceStore) -> None:
    assert store.workspace_settings() == {}
    store.set_workspace_settings({"name": "ws", "id": "1"})
    store.set_workspace_settings({"id": "2", "location": "local"}, replace=False)
    assert store.workspace_settings() == {"id": "1", "location": "local", "name": "ws"}
    store.set_workspace_settings({"id": "3"})
    assert store.workspace_settings()["id"] == "3"


# the key vault ----------------------------------------------------------------------------------
def test_secrets_are_set_read_listed_and_deleted(store: WorkspaceStore) -> None:
    assert store.get_secret("db-password") is None and store.secret_names() == []
    store.set_secrets({"db-password": "hunter2", "api-key": "k"})
    store.set_secrets({"api-key": "k2"})
    assert store.get_secret("db-password") == "hunter2" and store.get_secret("api-key") == "k2"
    assert store.secret_names() == ["api-key", "db-password"]
    with pytest.raises(AmlError, match="not allowed"):
        store.set_secrets({"ok-name": "v", "bad name": "v"})
    assert store.secret_names() == ["api-key", "db-password"]  # all or nothing
    with pytest.raises(AmlError, match="must be a string"):
        store.set_secrets({"n": 1})  # type: ignore[dict-item]
    store.delete_secrets(["api-key", "unknown"])
    assert store.secret_names() == ["db-password"]

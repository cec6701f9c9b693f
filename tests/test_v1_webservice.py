"""v1's Model and Webservice surface: model lookups by framework, ``url``, ``created_by``; the
``Webservice`` base over real local services (find, list, update, keys refused); and
``AciWebservice``: the service in a real Docker container (image built from the environment,
the model and the entry script, cached by hash; CPU and memory limits; key auth), skipped
where no engine or base image is (``make docker``)."""

from __future__ import annotations

import getpass
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aml_jupyter import Environment, InferenceConfig, Model, Workspace
from aml_jupyter.environments import docker_image as dockerenv
from aml_jupyter.errors import AmlError
from tests.conftest import remove_built_images, write
from tests.tiny_service import SCORE

SHIM = str(Path(__file__).resolve().parent.parent / "aml_jupyter" / "_azureml_shim")


@pytest.fixture(autouse=True)
def azureml_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(SHIM)


def _post(uri: str, body: Any, key: str | None = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    request = urllib.request.Request(uri, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def _tiny(ws: Workspace, project: Path, weights: str = "w-1") -> Model:
    return Model.register(
        ws, write(project, "weights.txt", weights), "tiny", model_framework="Custom"
    )


def _inference(project: Path, environment: Any = None) -> InferenceConfig:
    write(project / "serve", "score.py", SCORE)
    return InferenceConfig(
        entry_script="score.py", source_directory=str(project / "serve"), environment=environment
    )


def test_models_are_found_by_framework_and_say_where_and_who(ws: Workspace, project: Path) -> None:
    from azureml.core.model import Model as V1Model
    from azureml.exceptions import ModelNotFoundException

    first = Model.register(ws, write(project, "a.pkl", "a"), "iris", model_framework="ScikitLearn")
    second = Model.register(ws, write(project, "b.onnx", "b"), "iris", model_framework="Onnx")
    assert V1Model(ws, "iris").version == second.version  # the latest
    assert V1Model(ws, "iris", model_framework="scikitlearn").version == first.version
    assert V1Model(ws, "iris", version=2, model_framework="Onnx") == second
    with pytest.raises(ModelNotFoundException, match="model_framework 'TensorFlow'"):
        V1Model(ws, "iris", model_framework="TensorFlow")
    with pytest.raises(ModelNotFoundException, match="version 1 with model_framework 'Onnx'"):
        V1Model(ws, "iris", version=1, model_framework="Onnx")
    assert issubclass(ModelNotFoundException, AmlError)
    assert first.url == "aml://models/iris/versions/1/a.pkl"
    assert second.created_by["userName"] == getpass.getuser()
    assert second.serialize()["url"] == second.url


def test_the_webservice_base_finds_lists_and_updates_local_services(
    ws: Workspace, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from azureml.core.webservice import AciWebservice, LocalWebservice, Webservice
    from azureml.exceptions import WebserviceException

    model = _tiny(ws, project)
    service = Model.deploy(
        ws, "tiny-svc", [model], _inference(project), LocalWebservice.deploy_configuration()
    )
    try:
        service.wait_for_deployment(show_output=True)
        assert "Healthy" in capsys.readouterr().out
        found = Webservice(ws, "tiny-svc")
        assert isinstance(found, LocalWebservice) and found.compute_type == "Local"
        assert found.run({"x": 1})["weights"] == "w-1"
        assert "tiny service loaded" in found.get_logs()
        with pytest.raises(WebserviceException, match="is of type Local, not AciWebservice"):
            AciWebservice(ws, "tiny-svc")
        with pytest.raises(WebserviceException, match="No service 'nope'"):
            Webservice(ws, "nope")
        with pytest.raises(WebserviceException, match="does not use keys"):
            found.get_keys()

        found.update(tags={"stage": "dev"}, description="the tiny one", properties={"p": "1"})
        again = Webservice(ws, "tiny-svc")
        assert again.tags == {"stage": "dev"} and again.description == "the tiny one"
        assert [s.name for s in Webservice.list(ws, compute_type="Local")] == ["tiny-svc"]
        assert [s.name for s in Webservice.list(ws, tags=[["stage", "dev"]])] == ["tiny-svc"]
        assert Webservice.list(ws, tags=[["stage", "prod"]]) == []
        assert Webservice.list(ws, compute_type="ACI") == []
        assert [s.name for s in Webservice.list(ws, model_name="tiny")] == ["tiny-svc"]

        # New models: deployed again under the same name and port, labels kept.
        port = again.port
        newer = _tiny(ws, project, "w-2")
        again.update(models=[newer])
        assert again.run({"x": 2})["weights"] == "w-2" and again.port == port
        assert Webservice(ws, "tiny-svc").tags == {"stage": "dev"}
        assert Webservice(ws, "tiny-svc").models == [newer.id]
    finally:
        Webservice(ws, "tiny-svc").delete()
    assert Webservice.list(ws) == []


def test_bad_aci_configurations_are_refused() -> None:
    from azureml.core.webservice import AciWebservice
    from azureml.exceptions import WebserviceException

    for bad in ({"cpu_cores": 0}, {"memory_gb": -1}, {"cpu_cores": "one"}, {"tags": ["a"]}):
        with pytest.raises(WebserviceException):
            AciWebservice.deploy_configuration(**bad)
    with pytest.raises(WebserviceException, match="ssl_enabled"):
        AciWebservice.deploy_configuration(ssl_enabled=True)
    config = AciWebservice.deploy_configuration()
    assert (config.cpu_cores, config.memory_gb, config.auth_enabled) == (0.1, 0.5, False)


# --- a real Docker engine ---------------------------------------------------------------------


def _engine() -> tuple[Any, str]:
    try:
        engine = dockerenv.client(timeout=10)
    except AmlError:
        return None, "no docker engine answers (as root, `make docker` installs and starts one)"
    if dockerenv._find(engine, dockerenv.DEFAULT_BASE_IMAGE) is None:
        return None, f"no base image {dockerenv.DEFAULT_BASE_IMAGE}: `make docker`"
    return engine, ""


@pytest.fixture
def engine() -> Iterator[Any]:
    found, why = _engine()
    if found is None:
        pytest.skip(why)
    yield found
    for container in found.containers.list(all=True, filters={"label": "aml.service"}):
        if container.labels.get("aml.service") == "tiny-aci":
            container.remove(force=True)  # a test that failed half-way


@pytest.mark.timeout(900)  # the first build installs tornado into an image (uv, then COPY)
def test_an_aci_service_runs_in_a_container_with_limits_and_keys(
    ws: Workspace, project: Path, engine: Any
) -> None:
    from azureml.core.webservice import AciWebservice, Webservice

    model = _tiny(ws, project, "w-aci")
    env = Environment("aci-tiny")
    config = AciWebservice.deploy_configuration(
        cpu_cores=0.5, memory_gb=0.25, auth_enabled=True, tags={"kind": "aci"}, description="d"
    )
    service = Model.deploy(ws, "tiny-aci", [model], _inference(project, env), config)
    try:
        service.wait_for_deployment(show_output=True)
        assert isinstance(service, AciWebservice) and service.compute_type == "ACI"
        container = engine.containers.get(service._spec["container"])
        assert container.status == "running" and container.labels["aml.service"] == "tiny-aci"
        limits = container.attrs["HostConfig"]
        assert limits["NanoCpus"] == 500_000_000 and limits["Memory"] == 256 * 2**20
        assert service.run({"q": 1}) == {"weights": "w-aci", "echo": {"q": 1}}  # sends the key

        primary, secondary = service.get_keys()
        assert primary != secondary and len(primary) >= 32
        assert _post(service.scoring_uri, {"q": 2})[0] == 401
        assert _post(service.scoring_uri, {"q": 2}, "not-the-key")[0] == 401
        assert _post(service.scoring_uri, {"q": 2}, secondary) == (
            200,
            {"weights": "w-aci", "echo": {"q": 2}},
        )
        # Keys never in plain text: not in the record, the log, nor the container's settings.
        shown = json.dumps(dict(ws.store.get_service("tiny-aci").spec))
        shown += json.dumps(service.serialize()) + service.get_logs()
        shown += json.dumps(container.attrs)
        assert primary not in shown and secondary not in shown
        # ... nor in any file of the workspace (kept encrypted among its secrets).
        for path in ws.folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                assert primary.encode() not in data and secondary.encode() not in data, path
        assert "tiny service loaded" in service.get_logs()

        service.regen_key("Primary")
        new_primary, same_secondary = service.get_keys()
        assert new_primary != primary and same_secondary == secondary
        assert _post(service.scoring_uri, {}, primary)[0] == 401
        assert _post(service.scoring_uri, {}, new_primary)[0] == 200

        found = Webservice(ws, "tiny-aci")
        assert isinstance(found, AciWebservice) and found.tags == {"kind": "aci"}
        assert [s.name for s in Webservice.list(ws, compute_type="ACI")] == ["tiny-aci"]
        image = service._spec["image"]
    finally:
        Webservice(ws, "tiny-aci").delete()
    assert not engine.containers.list(all=True, filters={"label": "aml.service=tiny-aci"})
    assert Webservice.list(ws) == []

    # The same content again: the image is found by its hash, not built again.
    built = image
    again = Model.deploy(
        ws, "tiny-aci", [model], _inference(project, env), AciWebservice.deploy_configuration()
    )
    try:
        assert again._spec["image"] == image
        log = ws.store.service_folder("tiny-aci").environment_build_log.read_text()
        assert "Building image aml-service" not in log and f"Reusing image {image}" in log
        assert again.run({}) == {"weights": "w-aci", "echo": {}}  # no keys: none needed
        assert _post(again.scoring_uri, {})[0] == 200
        again.update(auth_enabled=True)  # keys made, the container restarted with their hashes
        assert _post(again.scoring_uri, {})[0] == 401
        assert _post(again.scoring_uri, {}, again.get_keys()[1])[0] == 200
        newer = _tiny(ws, project, "w-aci-2")
        again.update(models=[newer], tags={"v": "2"})  # a new image, the same name and port
        assert again.run({}) == {"weights": "w-aci-2", "echo": {}}
        assert again._spec["image"] != image and Webservice(ws, "tiny-aci").tags == {"v": "2"}
        built = again._spec["image"]
    finally:
        again.delete()
        # The images this test built go with it (never the base image).
        from aml_jupyter.registry.aci_image import environment_spec

        env_image = dockerenv.image_name(environment_spec(ws, _inference(project, env)))
        remove_built_images(engine, image, built, env_image)


@given(st.text(max_size=80))
@settings(max_examples=150, deadline=None)
def test_only_a_service_key_passes_the_key_check(header: str) -> None:
    from aml_jupyter.registry.service_keys import authorized, key_hash

    key = "k" * 43
    hashes = [key_hash(key), key_hash("s" * 43)]
    assert authorized(header, hashes) == (
        header.startswith("Bearer ") and header[7:].strip() in (key, "s" * 43)
    )
    assert authorized(f"Bearer {key}", hashes) and not authorized(key, hashes)
    assert not authorized(None, hashes) and not authorized(f"Bearer {key}", [])

"""The model page and the sidebar's Services section in a real JupyterLab and chromium, over a
model registered from a real run and deployed as a real local scoring service."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import write
from labui import NEEDS_BROWSER, Lab, open_sidebar, shot
from tiny_service import SCORE

from aml_jupyter import (
    Experiment,
    InferenceConfig,
    LocalWebservice,
    Model,
    RunStatus,
    ScriptRunConfig,
    Workspace,
)

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(240)]

TRAIN = """
    import os
    from azureml.core import Run
    os.makedirs("outputs", exist_ok=True)
    open("outputs/weights.txt", "w").write("w-42")
    Run.get_context().log("accuracy", 0.93)
"""


@pytest.fixture
def deployed(lab: Lab, tmp_path: Path) -> Iterator[tuple[Workspace, str, LocalWebservice]]:
    """Two versions of ``tiny`` from one real run; version 1 served as ``tiny-svc``."""
    ws = Workspace(lab.root / ".aml")
    source = tmp_path / "src"
    write(source, "train.py", TRAIN)
    run = Experiment(ws, "train").submit(ScriptRunConfig(source, "train.py"))
    assert run.wait_for_completion()["status"] == RunStatus.COMPLETED
    first = run.register_model("tiny", "outputs/weights.txt", tags={"stage": "dev"})
    run.register_model(
        "tiny",
        "outputs/weights.txt",
        tags={"stage": "prod"},
        properties={"accuracy": "0.93"},
        description="the one to ship",
        model_framework="Custom",
    )
    write(source / "serve", "score.py", SCORE)
    config = InferenceConfig(entry_script="score.py", source_directory=source / "serve")
    service = Model.deploy(ws, "tiny-svc", [first], config)
    try:
        yield ws, run.id, service
    finally:
        for left in LocalWebservice.list(ws):
            left.delete()


def _score(uri: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(
        uri, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_model_page_and_services(
    lab: Lab, page: Any, deployed: tuple[Workspace, str, LocalWebservice]
) -> None:
    from playwright.sync_api import expect

    ws, run_id, service = deployed
    sidebar = open_sidebar(page, lab)
    sidebar.get_by_test_id("aml-models-title").click()
    sidebar.locator('[data-testid="aml-model-row"][data-model="tiny:2"]').click()

    # The model page: the version clicked, every version, tags, properties, lineage.
    panel = page.locator('[data-testid="aml-model-panel"][data-model="tiny"]')
    expect(panel).to_have_attribute("data-version", "2", timeout=20_000)
    expect(panel.get_by_test_id("aml-model-title")).to_have_text("tiny")
    expect(panel).to_contain_text("the one to ship")
    expect(panel).to_contain_text("Custom")
    versions = panel.get_by_test_id("aml-model-version")
    expect(versions).to_have_count(2)
    expect(versions.first).to_have_attribute("data-version", "2")  # newest first
    expect(panel.get_by_test_id("aml-model-tag-list")).to_contain_text("stage=prod")
    expect(panel.get_by_test_id("aml-model-property-list")).to_contain_text("accuracy=0.93")
    expect(panel.get_by_test_id("aml-model-datasets")).to_contain_text("None recorded")
    expect(panel.get_by_test_id("aml-model-deployments")).to_contain_text("Not deployed")
    expect(panel.get_by_test_id("aml-model-files")).to_contain_text("weights.txt")

    # Version 1 is the deployed one.
    panel.locator('[data-testid="aml-model-version"][data-version="1"]').click()
    expect(panel).to_have_attribute("data-version", "1")
    expect(panel.get_by_test_id("aml-model-tag-list")).to_contain_text("stage=dev")
    deployment = panel.locator('[data-testid="aml-model-deployment"][data-service="tiny-svc"]')
    expect(deployment).to_contain_text("Healthy", timeout=10_000)
    expect(deployment).to_contain_text(service.scoring_uri)
    expect(page.locator(".lm-TabBar-tab.lm-mod-current", has_text="tiny:1")).to_be_visible()
    shot(page, "model-page")

    # Lineage: the run that made it opens in its panel.
    panel.get_by_test_id("aml-model-run").click()
    expect(page.locator(f'[data-testid="aml-run-panel"][data-run-id="{run_id}"]')).to_be_visible(
        timeout=20_000
    )

    # Services: state, URI, the statistics of real requests, logs, Delete.
    assert _score(service.scoring_uri, {"data": [1]}) == 200
    assert _score(service.scoring_uri, {"data": [2]}) == 200
    assert _score(service.scoring_uri, {"explode": True}) == 500
    sidebar.get_by_test_id("aml-services-title").click()
    row = sidebar.locator('[data-testid="aml-service-row"][data-service="tiny-svc"]')
    expect(row.get_by_test_id("aml-service-state")).to_have_text("Healthy", timeout=10_000)
    expect(row.get_by_test_id("aml-service-uri")).to_have_text(service.scoring_uri)
    row.get_by_test_id("aml-service-copy").click()
    expect(row.get_by_test_id("aml-service-copy")).to_have_text("copied")
    expect(row.get_by_test_id("aml-service-requests")).to_have_text("3 requests", timeout=10_000)
    expect(row.get_by_test_id("aml-service-errors")).to_have_text("1 error")
    expect(row.get_by_test_id("aml-service-p95")).to_contain_text(" ms")
    row.get_by_test_id("aml-service-logs").click()
    log = row.get_by_test_id("aml-service-log")
    expect(log).to_contain_text("tiny service loaded w-42", timeout=10_000)
    expect(log).to_contain_text("asked to explode")
    shot(page, "services")

    # Delete asks first; "Keep" keeps it.
    row.get_by_test_id("aml-service-delete").click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Delete service tiny-svc?")
    dialog.get_by_role("button", name="Keep").click()
    expect(dialog).to_have_count(0)
    assert [s.name for s in LocalWebservice.list(ws)] == ["tiny-svc"]
    row.get_by_test_id("aml-service-delete").click()
    dialog.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0, timeout=20_000)
    assert LocalWebservice.list(ws) == []
    # The section goes with its last service (as Models), and the page says it is not deployed.
    expect(sidebar.get_by_test_id("aml-services-title")).to_have_count(0)
    page.locator(".lm-TabBar-tab", has_text="tiny:1").click()
    expect(panel.get_by_test_id("aml-model-deployments")).to_contain_text(
        "Not deployed", timeout=10_000
    )

    # The tab comes back after a reload, at the version shown last; dark theme too.
    page.reload()
    page.wait_for_selector(".jp-LabShell", timeout=60_000)
    page.locator(".lm-TabBar-tab", has_text="tiny:1").click(timeout=30_000)
    restored = page.locator('[data-testid="aml-model-panel"][data-model="tiny"]')
    expect(restored).to_have_attribute("data-version", "1", timeout=20_000)
    expect(restored.get_by_test_id("aml-model-tag-list")).to_contain_text("stage=dev")
    page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme',"
        " {theme: 'JupyterLab Dark'})"
    )
    page.wait_for_function(
        "() => document.body.dataset.jpThemeName === 'JupyterLab Dark'", timeout=30_000
    )
    page.locator("#jupyterlab-splash").wait_for(state="detached", timeout=30_000)
    shot(page, "model-page-dark")
    # The command without a version opens the latest (in the same tab: one per model name).
    page.evaluate(
        "() => window.jupyterapp.commands.execute('aml:open-model', {name: 'tiny'}).then(() => 0)"
    )
    expect(restored).to_have_attribute("data-version", "2", timeout=20_000)
    expect(page.locator('[data-testid="aml-model-panel"]')).to_have_count(1)

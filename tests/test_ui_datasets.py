"""The sidebar's Datasets section in a real JupyterLab and chromium: a dataset registered while
the sidebar is open appears with its version, files and size, and a new version and the runs
that read it show on the next poll, without a reload."""

from __future__ import annotations

from typing import Any

import pytest
from labui import NEEDS_BROWSER, Lab, open_sidebar, shot

from aml_jupyter import Dataset, Workspace

pytestmark = [*NEEDS_BROWSER, pytest.mark.timeout(240)]


def test_the_datasets_section_follows_the_registry(lab: Lab, page: Any) -> None:
    from playwright.sync_api import expect

    ws = Workspace(lab.root / ".aml")
    data = lab.root / "files"
    data.mkdir()
    (data / "a.csv").write_text("x,y\n1,2\n")
    (data / "b.csv").write_text("x,y\n3,4\n5,6\n")
    sidebar = open_sidebar(page, lab)
    expect(sidebar.get_by_test_id("aml-datasets-title")).to_have_count(0)  # none yet

    first = Dataset.Tabular.from_delimited_files(str(data / "*.csv")).register(ws, "points")
    title = sidebar.get_by_test_id("aml-datasets-title")
    expect(title).to_contain_text("Datasets (1)", timeout=20_000)
    title.click()
    row = sidebar.locator('[data-testid="aml-dataset-row"][data-dataset="points:1"]')
    size = sum(p.stat().st_size for p in data.iterdir())
    expect(row.get_by_test_id("aml-dataset-size")).to_have_text(f"2 files, {size} B")
    expect(row.get_by_test_id("aml-dataset-runs")).to_have_count(0)

    (data / "c.csv").write_text("x,y\n7,8\n")
    second = Dataset.Tabular.from_delimited_files(str(data / "*.csv")).register(
        ws, "points", create_new_version=True
    )
    assert (first.version, second.version) == (1, 2)
    ws.store.add_run_datasets("run-1", "input", {"train": second.id})
    newer = sidebar.locator('[data-testid="aml-dataset-row"][data-dataset="points:2"]')
    expect(newer.get_by_test_id("aml-dataset-size")).to_contain_text("3 files", timeout=20_000)
    expect(newer.get_by_test_id("aml-dataset-runs")).to_have_text("1 run")
    expect(title).to_contain_text("Datasets (1)")  # one name, its latest version
    assert "Dataset.get_by_name(ws, 'points', 2)" in (newer.get_attribute("title") or "")
    shot(page, "datasets")

"""An upload to a compute-instance agent reports its progress (a real agent on 127.0.0.1), and
a bar shows it where someone watches (tqdm: a terminal, a notebook), never for small uploads."""

from __future__ import annotations

import io
import os
from pathlib import Path

import test_compute_instance as ci

from aml_jupyter import ComputeInstance, Workspace
from aml_jupyter.compute.instance.progress import SHOWN_FROM_BYTES, UploadProgress
from aml_jupyter.snapshot.snapshot import take_snapshot
from tests.conftest import write

agent = ci.agent  # the fixtures: a real agent, attached as "box"
box = ci.box


def test_an_upload_reports_its_bytes_as_they_go(
    ws: Workspace, box: ComputeInstance, project: Path
) -> None:
    write(project, "train.py", "print('hi')\n")
    (project / "data.bin").write_bytes(os.urandom(SHOWN_FROM_BYTES + 1))
    snapshot = take_snapshot(ws.store, project)
    shas = [snapshot.id, *(f.sha256 for f in snapshot.files)]
    heard: list[tuple[int, int]] = []
    assert box.client().upload(ws, shas, progress=lambda s, t: heard.append((s, t))) == 3
    total = sum(ws.blobs.size(sha) for sha in shas)
    assert {t for _, t in heard} == {total}
    sent = [s for s, _ in heard]
    assert sent == sorted(sent) and sent[-1] == total and len(sent) > 3  # piece by piece
    again: list[tuple[int, int]] = []
    assert box.client().upload(ws, shas, progress=lambda s, t: again.append((s, t))) == 0
    assert again == [(0, 0)]  # the agent has them all: nothing sent


def test_a_bar_shows_a_big_upload_only() -> None:
    out = io.StringIO()
    bar = UploadProgress("box", file=out)
    for sent in range(0, 20 << 20, 1 << 20):
        bar(sent, 20 << 20)
    bar(20 << 20, 20 << 20)
    assert bar._bar.n == 20 << 20  # every byte counted
    bar.close()
    text = out.getvalue()
    assert "Uploading to box" in text and "/20.0M" in text
    small = io.StringIO()
    bar = UploadProgress("box", file=small)
    bar(1 << 20, 1 << 20)
    bar.close()
    assert small.getvalue() == ""

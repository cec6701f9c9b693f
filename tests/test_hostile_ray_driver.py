"""A Ray job's driver speaks to us through its log: every frame it sends is checked."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from aml_jupyter import AmlError, RunStatus, Workspace
from aml_jupyter.compute.cluster.target import _RayRemote
from aml_jupyter.compute.remote import RemoteGone
from tests.test_hostile_peers import EVIL, TRAVERSAL, _files_outside, _sha


def _ray_remote() -> _RayRemote:
    return _RayRemote("http://127.0.0.1:1", "job-1", "n0nce", "ray")


def _frames(*frames: str) -> str:
    return "".join(f"@@aml:n0nce:{f}\n" for f in frames)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (f"file:{json.dumps([TRAVERSAL, _sha(EVIL), 10])}", "invalid file name"),
        (f"file:{json.dumps(['outputs/passwd', '../../etc/passwd', 10])}", "invalid file hash"),
        (f"file:{json.dumps({'name': 'x'})}", "not [name, sha256, size]"),
        (f"chunk:{TRAVERSAL}:{base64.b64encode(EVIL).decode()}", "invalid file name"),
        ("chunk:metrics/m.jsonl:not base64!", "not base64"),
        (f"blob:../../../x:{base64.b64encode(EVIL).decode()}", "invalid file name"),
        ("status:Pwned", "unknown run status"),
        (f"end:{json.dumps({'status': 'Running', 'tags': {}})}", "ended the run as 'Running'"),
        (f"end:{json.dumps({'status': 'Completed', 'tags': 'x'})}", "invalid tags"),
        ("end:{nope", "not JSON"),
    ],
)
def test_a_lying_ray_driver_is_refused(
    tmp_path: Path, ws: Workspace, frame: str, reason: str
) -> None:
    root = ws.store.run_folder("r1").root
    before = _files_outside(tmp_path, ws.folder)
    remote = _ray_remote()
    with pytest.raises(RemoteGone, match=re.escape(reason)) as info:
        remote._read(root, "driver line\n" + _frames(frame), final=True)
    assert "Ray cluster 'ray'" in str(info.value)
    assert _files_outside(tmp_path, ws.folder) == before
    assert remote._files == [] and remote._end is None


def test_a_ray_file_whose_bytes_differ_from_its_hash_is_refused(ws: Workspace) -> None:
    ws.store.create_run("e", "azureml.scriptrun", RunStatus.RUNNING, run_id="r1")
    folder = ws.store.run_folder("r1")
    remote = _ray_remote()
    good = base64.b64encode(b"model").decode()
    remote._read(
        folder.root,
        _frames(
            f"blob:outputs/model.txt:{base64.b64encode(b'tampered').decode()}",
            f"file:{json.dumps(['outputs/model.txt', _sha(b'model'), 5])}",
            f"blob:outputs/ok.txt:{good}",
            f"file:{json.dumps(['outputs/ok.txt', _sha(b'model'), 5])}",
        ),
        final=True,
    )
    with pytest.raises(AmlError, match="arrived damaged"):
        remote.collect(ws, "r1")
    assert ws.store.list_files("r1") == []
    assert _sha(b"model") not in ws.blobs and _sha(b"tampered") not in ws.blobs
    assert not folder.incoming.exists()
    # The same frames with honest bytes are stored.
    remote = _ray_remote()
    remote._read(
        folder.root,
        _frames(
            f"blob:outputs/model.txt:{good}",
            f"file:{json.dumps(['outputs/model.txt', _sha(b'model'), 5])}",
        ),
        final=True,
    )
    remote.collect(ws, "r1")
    assert [(r.name, r.sha256, r.size) for r in ws.store.list_files("r1")] == [
        ("outputs/model.txt", _sha(b"model"), 5)
    ]

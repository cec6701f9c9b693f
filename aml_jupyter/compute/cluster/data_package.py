"""A Ray job's data package: the run's grants file and its shipped input files, uploaded as
a ``py_modules`` package of its own (Ray unpacks it on the driver's node, on the job's path,
where :mod:`aml_jupyter.data.node_data` finds it by the tag in ``remoteData``). Never in the
entrypoint, runtime_env's variables or the job's metadata, which Ray's dashboard shows.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..local.run_data import uses_data
from ..remote_data import resolve
from .packages import LAYOUT, _uri

if TYPE_CHECKING:
    from ...tracking.workspace import Workspace
    from .jobs_api import RayJobs

#: Where the package puts its files (the same name as ``data.node_data.PACKAGE_FOLDER``).
PACKAGE_FOLDER = "aml_run_data"


def ray_data_package(
    ws: Workspace, jobs: RayJobs, cache: Path, definition: dict[str, Any], limit: int
) -> str | None:
    """Upload a Ray package holding the grants and the shipped files (a ``py_modules`` entry:
    Ray unpacks it on the node, on the job's path); its URI, or None without datasets."""
    if not uses_data(definition):
        return None
    resolution = resolve(ws, definition, limit)
    tag = secrets.token_hex(16)
    uri = _uri(hashlib.sha256(LAYOUT + b"\0data\0" + tag.encode()).hexdigest())
    cache.mkdir(parents=True, exist_ok=True)
    zipped = cache / f".data-{tag}.zip"
    fd = os.open(zipped, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w", zipfile.ZIP_STORED) as zf:
            base = f"{PACKAGE_FOLDER}/{tag}"
            zf.writestr(f"{base}/grants.json", resolution.grants)
            for sha in resolution.shipped:
                zf.write(ws.blobs.path(sha), f"{base}/blobs/{sha}")
        jobs.upload_package(uri, zipped)
    finally:
        zipped.unlink(missing_ok=True)
    definition["remoteData"] = {"package": tag}
    return uri

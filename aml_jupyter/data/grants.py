"""The grants file: what a node needs to read a run's input datasets without any datastore key.

The submitter writes it at submit (:mod:`.remote_inputs`) and it travels inside the run's
upload (a compute instance's blob) or package (a Ray job's), never in a run definition, a
job's metadata or a log. For each input it lists the files, each with its name in the
dataset, its pinned size and sha256, and where the node reads it: ``url`` (a read-only,
short-lived Azure SAS or S3 presigned URL: itself a credential, so never shown with its
query) or ``blob`` (the bytes were shipped, content-addressed by that same sha256).

On the node this file is outside input: :func:`parse` checks every field before any of it
names a file or a URL.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, NamedTuple

from ..errors import AmlError
from ..paths import checked_relative_name
from .consumption import valid_input_name

FORMAT = "aml-run-data-grants"
VERSION = 1
_SHA256 = re.compile(r"[0-9a-f]{64}")
#: The most a grants file may hold (a million files' entries fit well under it).
MAX_BYTES = 512 * 1024 * 1024


class FileGrant(NamedTuple):
    """One file of an input: its name in the dataset, pinned size and hash, where to read it
    (``url``; None: the shipped blob named by ``sha256``)."""

    name: str
    size: int
    sha256: str
    url: str | None = None


class InputGrant(NamedTuple):
    """One input of the run: the spec's name and dataset, its kind and definition (for a
    direct input, rebuilt over the downloaded files), and its files."""

    name: str
    dataset_id: str
    kind: str
    definition: dict[str, Any]
    files: tuple[FileGrant, ...]
    #: The version's stored name (a saved one's hidden name) and number, for the script.
    dataset_name: str = ""
    dataset_version: int = 1


class Grants(NamedTuple):
    expires: float
    inputs: tuple[InputGrant, ...]

    def input(self, name: str) -> InputGrant:
        for item in self.inputs:
            if item.name == name:
                return item
        raise AmlError(f"The run's grants file has no input {name!r}; submit the run again.")


def dump(grants: Grants) -> bytes:
    """The file's bytes (JSON)."""
    body = {
        "format": FORMAT,
        "version": VERSION,
        "expires": grants.expires,
        "inputs": [
            {
                "name": i.name,
                "datasetId": i.dataset_id,
                "kind": i.kind,
                "definition": i.definition,
                "datasetName": i.dataset_name,
                "datasetVersion": i.dataset_version,
                "files": [
                    {"name": f.name, "size": f.size, "sha256": f.sha256, "url": f.url}
                    for f in i.files
                ],
            }
            for i in grants.inputs
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def shown(url: str) -> str:
    """A grant's URL as it may be shown: without its query (the signature) and fragment."""
    return url.split("?", 1)[0].split("#", 1)[0]


def _bad(what: str) -> AmlError:
    return AmlError(f"The run's grants file is damaged ({what}); submit the run again.")


def parse(data: bytes) -> Grants:
    """The grants in ``data``, every field checked; :class:`AmlError` for anything else (no
    value of the file is repeated in the message: it may hold a signature)."""
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_BYTES:
        raise _bad("not a file of at most 512 MiB")
    try:
        body = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _bad("not JSON") from None
    if not isinstance(body, dict) or body.get("format") != FORMAT:
        raise _bad("not a grants file")
    if body.get("version") != VERSION:
        raise _bad("a version this release cannot read")
    expires = body.get("expires")
    if (
        not isinstance(expires, (int, float))
        or isinstance(expires, bool)
        or not math.isfinite(expires)
    ):
        raise _bad("no expiry time")
    inputs = body.get("inputs")
    if not isinstance(inputs, list):
        raise _bad("inputs is not a list")
    parsed = tuple(_input(item) for item in inputs)
    if len({i.name for i in parsed}) != len(parsed):
        raise _bad("an input named twice")
    return Grants(float(expires), parsed)


def _input(item: Any) -> InputGrant:
    if not isinstance(item, dict):
        raise _bad("an input is not an object")
    name, dataset_id, kind = item.get("name"), item.get("datasetId"), item.get("kind")
    if not isinstance(name, str) or not valid_input_name(name):
        raise _bad("an input's name is not a variable name")
    if not isinstance(dataset_id, str) or not 0 < len(dataset_id) <= 256:
        raise _bad(f"input {name!r} has no dataset id")
    if kind not in ("file", "tabular"):
        raise _bad(f"input {name!r} is of no known kind")
    definition = item.get("definition")
    if not isinstance(definition, dict):
        raise _bad(f"input {name!r} has no definition")
    files = item.get("files")
    if not isinstance(files, list):
        raise _bad(f"input {name!r} has no file list")
    rows = tuple(_file(name, f) for f in files)
    if len({f.name for f in rows}) != len(rows):
        raise _bad(f"input {name!r} names a file twice")
    stored, version = item.get("datasetName", ""), item.get("datasetVersion", 1)
    if not isinstance(stored, str) or len(stored) > 256:
        raise _bad(f"input {name!r} has a dataset name that is not text")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise _bad(f"input {name!r} has a dataset version that is not a positive number")
    return InputGrant(name, dataset_id, kind, definition, rows, stored, version)


def _file(input_name: str, item: Any) -> FileGrant:
    if not isinstance(item, dict):
        raise _bad(f"a file of input {input_name!r} is not an object")
    name, size, sha, url = item.get("name"), item.get("size"), item.get("sha256"), item.get("url")
    try:
        clean = checked_relative_name(name if isinstance(name, str) else "", "file name")
    except AmlError:
        raise _bad(f"input {input_name!r} has a file name that leaves its folder") from None
    if clean != name:
        raise _bad(f"input {input_name!r} has a file name that is not in its plain form")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _bad(f"file {name!r} of input {input_name!r} has no size")
    if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
        raise _bad(f"file {name!r} of input {input_name!r} has no sha256")
    if url is not None and (
        not isinstance(url, str)
        or not url.lower().startswith(("https://", "http://"))
        or any(c.isspace() or ord(c) < 32 for c in url)
        or len(url) > 64 * 1024
    ):
        raise _bad(f"file {name!r} of input {input_name!r} has a URL that is not http(s)")
    return FileGrant(name, size, sha, url)


__all__ = ["FileGrant", "Grants", "InputGrant", "dump", "parse", "shown"]

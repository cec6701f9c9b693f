"""Checks on what a remote side sends back: an agent's sync answers, a Ray driver's frames.

A compute instance (or anyone on the way to it) and a Ray job's log are outside this
workspace: every file name, hash, status and tag they send is checked here before it is
stored or used to build a path, and blob bytes are kept only under the hash they really have.
A refusal is a :class:`~aml_jupyter.compute.remote.RemoteGone`, so the run ends Failed with it.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from ..errors import AmlError
from ..paths import checked_relative_name
from ..status import RunStatus
from ..store.blobs import BlobStore, check_sha256
from .remote import RemoteGone, RemoteState

KNOWN_STATUSES = RunStatus.TERMINAL | RunStatus.ACTIVE


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "..."


def checked_file_row(row: Any, where: str) -> tuple[str, str, int]:
    """A stored-file entry ``[name, sha256, size]`` from ``where``, checked."""
    if not isinstance(row, (list, tuple)) or len(row) != 3:
        raise RemoteGone(
            f"The {where} sent a file entry that is not [name, sha256, size]: {_short(row)}."
        )
    name, sha, size = row
    try:
        clean = checked_relative_name(name, "run file name")
    except AmlError as exc:
        raise RemoteGone(f"The {where} sent an invalid file name: {exc}") from None
    try:
        check_sha256(sha, f"hash of run file {clean!r}")
    except AmlError as exc:
        raise RemoteGone(f"The {where} sent an invalid file hash: {exc}") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise RemoteGone(f"The {where} sent an invalid size for {clean!r}: {_short(size)}.")
    return clean, sha, size


def checked_files(rows: Any, where: str) -> list[tuple[str, str, int]]:
    """A list of stored-file entries from ``where``, each checked."""
    if not isinstance(rows, list):
        raise RemoteGone(f"The {where} sent a file list that is not a list: {_short(rows)}.")
    return [checked_file_row(row, where) for row in rows]


def checked_status(status: Any, where: str) -> str:
    """A run status from ``where``; anything but a v1 status name is refused."""
    if not isinstance(status, str) or status not in KNOWN_STATUSES:
        raise RemoteGone(f"The {where} sent an unknown run status: {_short(status)}.")
    return status


def checked_mapping(value: Any, what: str, where: str) -> dict[str, str | None]:
    """Tags or properties from ``where``: names to plain values (kept as text)."""
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and (v is None or isinstance(v, (str, int, float, bool)))
        for k, v in value.items()
    ):
        raise RemoteGone(f"The {where} sent invalid {what} (not names to values): {_short(value)}.")
    return {k: None if v is None else str(v) for k, v in value.items()}


def checked_state(answer: dict[str, Any], where: str) -> RemoteState:
    """The run's state (status, error, exit code, tags, properties) from ``where``, checked."""
    error, exit_code = answer.get("error"), answer.get("exit_code")
    if error is not None and not (
        isinstance(error, dict) and isinstance(error.get("message", ""), str)
    ):
        raise RemoteGone(f"The {where} sent an invalid run error: {_short(error)}.")
    if exit_code is not None and (not isinstance(exit_code, int) or isinstance(exit_code, bool)):
        raise RemoteGone(f"The {where} sent an invalid exit code: {_short(exit_code)}.")
    return RemoteState(
        status=checked_status(answer.get("status"), where),
        error=error,
        exit_code=exit_code,
        tags=checked_mapping(answer.get("tags"), "tags", where),
        properties=checked_mapping(answer.get("properties"), "properties", where),
    )


class BlobSink:
    """Bytes streamed into a temp file of the blob store, hashed on the way, stored only under
    the hash they turn out to have: nothing is held in memory, nothing is hashed twice."""

    def __init__(self, blobs: BlobStore, limit: int | None = None) -> None:
        self.blobs = blobs
        self.limit = limit
        self.size = 0
        fd, self.tmp = blobs.temp_file()
        self._file = os.fdopen(fd, "wb")
        self._digest = hashlib.sha256()

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise AmlError(f"More than the announced {self.limit} bytes arrived; refused.")
        self._digest.update(chunk)
        self._file.write(chunk)

    def commit(self, sha256: str) -> None:
        """Store the bytes as blob ``sha256``, or refuse (and drop them) when they differ."""
        self._file.close()
        if self._digest.hexdigest() != sha256:
            self.discard()
            raise AmlError(f"The bytes sent for blob {sha256} do not match its sha256; refused.")
        self.blobs.commit_temp(self.tmp, sha256)  # already hashed: a rename, however big

    def discard(self) -> None:
        """Drop what arrived (an upload refused or cut off)."""
        self._file.close()
        if os.path.exists(self.tmp):
            os.unlink(self.tmp)

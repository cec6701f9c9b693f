"""Content-addressed file store: a file is kept once, named by its SHA-256."""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from ..errors import AmlError

_CHUNK = 1 << 20
_SHA256 = re.compile(r"[0-9a-f]{64}")


def check_sha256(value: object, what: str = "file hash") -> str:
    """``value`` if it is a SHA-256 in hex (64 lowercase hex digits), else :class:`AmlError`.

    Hashes from outside (an agent, a Ray driver, a manifest) name blob paths, so nothing else
    may pass: ``../../etc/passwd`` is not a hash.
    """
    if not isinstance(value, str) or _SHA256.fullmatch(value) is None:
        raise AmlError(f"The {what} {value!r} is not a SHA-256 (64 hex digits); refused.")
    return value


def hash_file(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's content, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class BlobStore:
    """``blobs/ab/cdef…``: immutable files addressed by the hash of their content."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, sha256: str) -> Path:
        """Where the blob with this hash lives (it may not exist); refuses what is not a hash."""
        check_sha256(sha256)
        return self.root / sha256[:2] / sha256[2:]

    def open(self, sha256: str) -> BinaryIO:
        """The blob opened for binary reading (the caller closes it)."""
        return open(self.path(sha256), "rb")

    def size(self, sha256: str) -> int:
        """The blob's size in bytes (FileNotFoundError when it is not here)."""
        return self.path(sha256).stat().st_size

    def temp_file(self) -> tuple[int, str]:
        """A new temp file inside the store, ``(fd, path)``: bytes arriving for a blob are
        written there, then :meth:`commit_temp` renames them into place."""
        self.root.mkdir(parents=True, exist_ok=True)
        return tempfile.mkstemp(dir=self.root, prefix=".incoming-")

    def __contains__(self, sha256: object) -> bool:
        return _SHA256.fullmatch(str(sha256)) is not None and self.path(str(sha256)).is_file()

    def commit_temp(self, tmp: str, sha256: str) -> None:
        """Move ``tmp`` (a file of ours on this file system, whose hash is ``sha256``) into
        the store as that blob, read-only; it is dropped when the blob is there already."""
        target = self.path(sha256)
        if target.exists():
            os.unlink(tmp)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(tmp, 0o444)
        os.replace(tmp, target)  # atomic: readers never see half a blob

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        """Store what ``stream`` reads; returns ``(sha256, size)``."""
        self.root.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                while chunk := stream.read(_CHUNK):
                    digest.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            sha = digest.hexdigest()
            self.commit_temp(tmp, sha)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        return sha, size

    def put_file(self, path: str | os.PathLike[str], sha256: str | None = None) -> tuple[str, int]:
        """Store a copy of a file; ``sha256`` (if already known) skips hashing when present."""
        size = os.path.getsize(path)
        if sha256 is not None and sha256 in self:
            return sha256, size
        with open(path, "rb") as f:
            return self.put_stream(f)

    def adopt_file(self, path: str | os.PathLike[str]) -> tuple[str, int]:
        """Move a file we own (e.g. a finished run's output) into the store: no copy."""
        sha = hash_file(path)
        size = os.path.getsize(path)
        try:
            self.commit_temp(os.fspath(path), sha)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            self.put_file(path, sha)  # on another file system: copy, then drop ours
            os.unlink(path)
        return sha, size

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a byte string; returns ``(sha256, size)``."""
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self:
            self.root.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            self.commit_temp(tmp, sha)
        return sha, len(data)

    def read_bytes(self, sha256: str) -> bytes:
        """The content of a blob."""
        return self.path(sha256).read_bytes()

    def copy_to(self, sha256: str, destination: str | os.PathLike[str]) -> None:
        """Write a (writable) copy of a blob to ``destination``, creating parent folders."""
        dest = Path(destination)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.path(sha256), dest)

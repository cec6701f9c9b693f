"""The workspace store: SQLite metadata, content-addressed blobs, per-run metric files."""

from .blobs import BlobStore, hash_file
from .database import Database
from .records import Records

__all__ = ["BlobStore", "Database", "Records", "hash_file"]

"""Read-only, short-lived URLs of a datastore's files, so a node reads them with no key.

Azure Blob and ADLS Gen2 (through its blob endpoint): a blob SAS with read permission only,
signed with the account key here (``azure-storage-blob``'s ``generate_blob_sas``; Azurite
accepts them too). S3: a SigV4 presigned ``GET`` (botocore). A datastore
that cannot sign (a blob one registered with a SAS token or a service principal, a local
folder) returns None: its files are shipped instead (see :mod:`.remote_inputs`).

How long a URL lives: ``AML_DATA_GRANT_SECONDS`` (default 86400, one day: a run queued for
hours still reads its data; S3 allows at most 7 days).
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

from ..errors import AmlError

DEFAULT_SECONDS = 86400
#: S3's SigV4 limit on a presigned URL.
S3_MAX_SECONDS = 7 * 86400
ENV = "AML_DATA_GRANT_SECONDS"


def grant_seconds() -> int:
    """How long a grant lives (``AML_DATA_GRANT_SECONDS``), checked."""
    text = os.environ.get(ENV, "").strip()
    if not text:
        return DEFAULT_SECONDS
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 60 <= value <= 365 * 86400:
        raise AmlError(
            f"{ENV} is a number of seconds from 60 to 31536000 (how long a run's read-only "
            f"data URLs live); got {text!r}."
        )
    return value


class Signer:
    """Signs the files of one datastore; ``url(fs_path)`` or None when it cannot."""

    def __init__(self, datastore: Any, seconds: int) -> None:
        self.datastore = datastore
        self.seconds = seconds
        self._kind = getattr(datastore, "datastore_type", "Local")
        self._fs: Any = None
        self._key: str | None = None
        if self._kind in ("AzureBlob", "AzureDataLakeGen2"):
            self._key = datastore.account_key  # None: registered with a SAS token or a principal
        elif self._kind == "S3" and seconds > S3_MAX_SECONDS:
            raise AmlError(
                f"S3 presigned URLs live at most {S3_MAX_SECONDS} s; set {ENV} to that or less."
            )

    @property
    def can_sign(self) -> bool:
        return self._kind == "S3" or (self._kind.startswith("Azure") and bool(self._key))

    def url(self, fs_path: str) -> str | None:
        if not self.can_sign:
            return None
        if self._kind == "S3":
            return self._s3(fs_path)
        return self._blob(fs_path)

    def _blob(self, fs_path: str) -> str:
        from azure.storage.blob import BlobSasPermissions, generate_blob_sas

        container, _, blob = fs_path.partition("/")
        store = self.datastore
        now = datetime.now(timezone.utc)
        token = generate_blob_sas(
            account_name=store.account_name,
            container_name=container,
            blob_name=blob,
            account_key=self._key,
            permission=BlobSasPermissions(read=True),
            start=now - timedelta(minutes=5),  # a node's clock a little behind ours
            expiry=now + timedelta(seconds=self.seconds),
        )
        return f"{store.account_url}/{quote(container)}/{quote(blob)}?{token}"

    def _s3(self, fs_path: str) -> str:
        """A SigV4 presigned GET (AWS refuses SigV2 in most regions; s3fs's ``sign`` may give
        one), made by botocore with the datastore's keys."""
        if self._fs is None:
            from botocore.config import Config
            from botocore.session import get_session

            store = self.datastore
            creds = store._credentials()
            self._fs = get_session().create_client(
                "s3",
                endpoint_url=store.endpoint_url,
                region_name=store.region or "us-east-1",
                aws_access_key_id=creds.get("access_key_id"),
                aws_secret_access_key=creds.get("secret_access_key"),
                aws_session_token=creds.get("session_token"),
                config=Config(
                    signature_version="s3v4",
                    # an S3-compatible endpoint (MinIO, moto) names buckets in the path
                    s3={"addressing_style": "path"} if store.endpoint_url else {},
                ),
            )
        bucket, _, key = fs_path.partition("/")
        try:
            return str(
                self._fs.generate_presigned_url(
                    "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=self.seconds
                )
            )
        except Exception as exc:  # botocore's own errors; never the key in the message
            raise AmlError(
                f"Cannot presign {fs_path} of datastore {self.datastore.name!r}: "
                f"{type(exc).__name__}."
            ) from None

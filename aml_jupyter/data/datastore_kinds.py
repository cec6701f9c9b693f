"""The remote kinds of datastore: Azure Blob (v1's ``AzureBlobDatastore``), ADLS Gen2 (v1's
``AzureDataLakeGen2Datastore``, through the same blob API) and S3 or any S3-compatible store
(ours). Each is built from its record's settings; its credentials are read from the
workspace's encrypted secrets only when its filesystem is made, and are never in its repr.

adlfs and s3fs are imported only then, so a workspace that never uses a remote store needs
neither (``pip install 'aml-jupyter[azure]'`` / ``[s3]``).
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..errors import AmlError
from .datastore import Datastore, relative_path

if TYPE_CHECKING:
    import fsspec

    from ..tracking.workspace import Workspace


def _need(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise AmlError(
            f"This datastore needs the {module!r} package: pip install 'aml-jupyter[{extra}]' "
            f"(or pip install {module})."
        ) from None


def blob_account_url(
    account_name: str, protocol: str | None = None, endpoint: str | None = None
) -> str:
    """The blob service's URL of an account: ``<protocol>://<account>.blob.<endpoint>`` (v1's
    ``endpoint`` is the suffix, ``core.windows.net`` by default), or ``endpoint`` itself when
    it is a whole URL (``http://127.0.0.1:10000/devstoreaccount1``: Azurite, a private link)."""
    if endpoint and endpoint.lower().startswith(("http://", "https://")):
        return endpoint.rstrip("/")
    scheme = (protocol or "https").lower()
    if scheme not in ("http", "https"):
        raise AmlError(f"protocol is 'https' or 'http'; got {protocol!r}.")
    return f"{scheme}://{account_name}.blob.{endpoint or 'core.windows.net'}"


def blob_connection_string(account_name: str, account_url: str, creds: Mapping[str, str]) -> str:
    """An Azure Storage connection string for ``account_url`` with the key or SAS token."""
    scheme = account_url.split(":", 1)[0]
    parts = [
        f"DefaultEndpointsProtocol={scheme}",
        f"AccountName={account_name}",
        f"BlobEndpoint={account_url}",
    ]
    if creds.get("account_key"):
        parts.append(f"AccountKey={creds['account_key']}")
    elif creds.get("sas_token"):
        parts.append(f"SharedAccessSignature={creds['sas_token'].lstrip('?')}")
    return ";".join(parts) + ";"


class AzureBlobDatastore(Datastore):
    """An Azure Blob container (v1's ``AzureBlobDatastore``): Azure itself, or Azurite."""

    datastore_type = "AzureBlob"
    _container_key = "container_name"

    def __init__(self, workspace: Workspace, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(workspace, name)
        self.config = dict(config)

    @property
    def container_name(self) -> str:
        return str(self.config[self._container_key])

    @property
    def account_name(self) -> str:
        return str(self.config["account_name"])

    @property
    def protocol(self) -> str:
        return self.account_url.split(":", 1)[0]

    @property
    def endpoint(self) -> str:
        return str(self.config.get("endpoint") or "core.windows.net")

    @property
    def account_url(self) -> str:
        return str(self.config["account_url"])

    @property
    def account_key(self) -> str | None:
        """The account key (v1 had it as an attribute), decrypted when asked for."""
        return self._credentials().get("account_key")

    @property
    def sas_token(self) -> str | None:
        """The SAS token (v1 had it as an attribute), decrypted when asked for."""
        return self._credentials().get("sas_token")

    def filesystem(self) -> fsspec.AbstractFileSystem:
        adlfs = _need("adlfs", "azure")
        creds = self._credentials()
        if creds.get("client_secret"):  # a service principal (ADLS Gen2's v1 way)
            return adlfs.AzureBlobFileSystem(
                account_name=self.account_name,
                tenant_id=creds.get("tenant_id"),
                client_id=creds.get("client_id"),
                client_secret=creds["client_secret"],
                account_host=self.account_url.split("://", 1)[1],
            )
        conn = blob_connection_string(self.account_name, self.account_url, creds)
        return adlfs.AzureBlobFileSystem(connection_string=conn)

    def fs_path(self, path: str | None = None) -> str:
        rel = relative_path(path)
        return f"{self.container_name}/{rel}" if rel else self.container_name

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, account_name={self.account_name!r}, "
            f"container_name={self.container_name!r})"
        )


class AzureDataLakeGen2Datastore(AzureBlobDatastore):
    """An ADLS Gen2 file system (v1's ``AzureDataLakeGen2Datastore``), read and written
    through its blob endpoint as adlfs does."""

    datastore_type = "AzureDataLakeGen2"
    _container_key = "filesystem"

    @property
    def filesystem_name(self) -> str:
        """v1 named the container of a Gen2 store its ``filesystem``."""
        return self.container_name


class S3Datastore(Datastore):
    """An S3 bucket, optionally under a prefix (ours): AWS, or any S3-compatible store
    (MinIO, Ceph, moto ...) by its ``endpoint_url``."""

    datastore_type = "S3"

    def __init__(self, workspace: Workspace, name: str, config: Mapping[str, Any]) -> None:
        super().__init__(workspace, name)
        self.config = dict(config)

    @property
    def bucket(self) -> str:
        return str(self.config["bucket"])

    @property
    def prefix(self) -> str:
        return str(self.config.get("prefix") or "")

    @property
    def endpoint_url(self) -> str | None:
        return self.config.get("endpoint_url")

    @property
    def region(self) -> str | None:
        return self.config.get("region")

    def filesystem(self) -> fsspec.AbstractFileSystem:
        s3fs = _need("s3fs", "s3")
        creds = self._credentials()
        client_kwargs = {"region_name": self.region} if self.region else {}
        return s3fs.S3FileSystem(
            key=creds.get("access_key_id"),
            secret=creds.get("secret_access_key"),
            token=creds.get("session_token"),
            endpoint_url=self.endpoint_url,
            client_kwargs=client_kwargs,
        )

    def fs_path(self, path: str | None = None) -> str:
        rel = relative_path(posixpath.join(self.prefix, relative_path(path)))
        return f"{self.bucket}/{rel}" if rel else self.bucket

    def __repr__(self) -> str:
        where = f"{self.bucket}/{self.prefix}".rstrip("/")
        return f"S3Datastore(name={self.name!r}, bucket={where!r})"


#: The kinds a record names, by its ``kind``.
KINDS: dict[str, type[Any]] = {
    "AzureBlob": AzureBlobDatastore,
    "AzureDataLakeGen2": AzureDataLakeGen2Datastore,
    "S3": S3Datastore,
}

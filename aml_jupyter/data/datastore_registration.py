"""Registering datastores (v1's ``Datastore.register_*``, and ours for a local folder and S3).

Each registration checks its names, then (unless ``skip_validation``) reaches the store with
the credentials given: the container or bucket must answer, else an :class:`AmlError` says
which (wrong key, no such container, endpoint unreachable) and nothing is registered. Only
then is the record written, with its credentials as one encrypted secret of the workspace
(``aml-datastore-<name>``) in the same transaction: a registration is whole or absent.
Credentials are never in the record, a repr, a log line or an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import AmlError, V1NameNotSupported
from .datastore import Datastore, from_record
from .datastore_kinds import _need, blob_account_url, blob_connection_string
from .datastore_names import (
    check_account_name,
    check_bucket_name,
    check_container_name,
    check_datastore_name,
    check_endpoint_url,
    credentials_secret,
)
from .datastore_reach import reach_blob_container, reach_s3_bucket

if TYPE_CHECKING:
    from ..tracking.workspace import Workspace


def _register(
    workspace: Workspace,
    name: str,
    kind: str,
    config: Mapping[str, Any],
    credentials: Mapping[str, str | None],
    overwrite: bool,
    reach: Any = None,
) -> Datastore:
    """Check, reach (``reach()``, None: skipped), then record: whole or not at all."""
    check_datastore_name(name)
    if not overwrite and workspace.store.get_datastore(name) is not None:
        raise AmlError(
            f"A datastore named {name!r} is registered already; register with overwrite=True "
            "to replace it, or choose another name."
        )
    if reach is not None:
        reach()
    secrets = {k: v for k, v in credentials.items() if v}
    record = workspace.store.add_datastore(
        name,
        kind,
        config,
        credentials=secrets or None,
        credentials_secret=credentials_secret(name) if secrets else None,
        overwrite=overwrite,
    )
    return from_record(workspace, record)


def _check_secret(what: str, value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise AmlError(f"{what} is a non-empty string when given.")
    return value


def _check_blob_endpoint(account_name: str, endpoint: str | None) -> None:
    """A whole endpoint URL is checked as one (it names the account itself, and must hold no
    credential); else the account name is, for ``<account>.blob.<endpoint>``."""
    if (endpoint or "").lower().startswith(("http://", "https://")):
        check_endpoint_url("endpoint", str(endpoint))
    else:
        check_account_name(account_name)


def register_azure_blob_container(
    workspace: Workspace,
    datastore_name: str,
    container_name: str,
    account_name: str,
    sas_token: str | None = None,
    account_key: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    create_if_not_exists: bool = False,
    skip_validation: bool = False,
    blob_cache_timeout: int | None = None,
    grant_workspace_access: bool = False,
    subscription_id: str | None = None,
    resource_group: str | None = None,
) -> Datastore:
    """Register an Azure Blob container as a datastore (v1's signature).

    ``endpoint`` is v1's storage suffix (``core.windows.net`` by default; another cloud's
    ``core.chinacloudapi.cn`` ...), joined as ``<protocol>://<account>.blob.<endpoint>``, or a
    whole blob endpoint URL, taken as it is (``protocol`` then unused): Azurite's
    ``http://127.0.0.1:10000/devstoreaccount1``, a private endpoint. ``account_key`` or
    ``sas_token`` (neither: anonymous access to a public container) are kept encrypted in the
    workspace's secrets. Unless ``skip_validation``, the container must answer with them
    (``create_if_not_exists`` makes it first). ``blob_cache_timeout``,
    ``grant_workspace_access``, ``subscription_id`` and ``resource_group`` are Azure ML
    control-plane settings with no meaning here: accepted, kept, unused.
    """
    check_container_name(container_name)
    _check_blob_endpoint(account_name, endpoint)
    _check_secret("account_key", account_key)
    _check_secret("sas_token", sas_token)
    url = blob_account_url(account_name, protocol, endpoint)
    creds = {"account_key": account_key} if account_key else {"sas_token": sas_token}
    config = {
        "container_name": container_name,
        "account_name": account_name,
        "account_url": url,
        "endpoint": endpoint or "core.windows.net",
        "subscription_id": subscription_id,
        "resource_group": resource_group,
    }

    def reach() -> None:
        conn = blob_connection_string(account_name, url, {k: v for k, v in creds.items() if v})
        reach_blob_container(conn, url, container_name, create_if_not_exists, creds.values())

    return _register(
        workspace,
        datastore_name,
        "AzureBlob",
        config,
        creds,
        overwrite,
        None if skip_validation else reach,
    )


def register_azure_data_lake_gen2(
    workspace: Workspace,
    datastore_name: str,
    filesystem: str,
    account_name: str,
    tenant_id: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    resource_url: str | None = None,
    authority_url: str | None = None,
    protocol: str | None = None,
    endpoint: str | None = None,
    overwrite: bool = False,
    subscription_id: str | None = None,
    resource_group: str | None = None,
    grant_workspace_access: bool = False,
    account_key: str | None = None,
    skip_validation: bool = False,
) -> Datastore:
    """Register an ADLS Gen2 file system (v1's signature): read and written through its blob
    endpoint. v1 authenticated with a service principal (``tenant_id``, ``client_id``,
    ``client_secret``); ours also takes the ``account_key``. Credentials are kept encrypted;
    ``endpoint`` is as for :func:`register_azure_blob_container`. Unless ``skip_validation``
    (ours: v1 did not validate Gen2), the file system must answer."""
    check_container_name(filesystem)
    _check_blob_endpoint(account_name, endpoint)
    for what, value in (("client_secret", client_secret), ("account_key", account_key)):
        _check_secret(what, value)
    if client_secret and not (tenant_id and client_id):
        raise AmlError("A service principal needs tenant_id, client_id and client_secret.")
    url = blob_account_url(account_name, protocol, endpoint)
    creds = {
        "tenant_id": tenant_id if client_secret else None,
        "client_id": client_id if client_secret else None,
        "client_secret": client_secret,
        "account_key": None if client_secret else account_key,
    }
    config = {
        "filesystem": filesystem,
        "account_name": account_name,
        "account_url": url,
        "endpoint": endpoint or "core.windows.net",
        "resource_url": resource_url,
        "authority_url": authority_url,
    }

    def reach() -> None:
        secrets = [v for v in creds.values() if v]
        if client_secret:
            _need("adlfs", "azure")
            from azure.identity import ClientSecretCredential

            credential = ClientSecretCredential(str(tenant_id), str(client_id), client_secret)
            reach_blob_container(None, url, filesystem, False, secrets, credential=credential)
        else:
            conn = blob_connection_string(account_name, url, {"account_key": account_key or ""})
            reach_blob_container(conn, url, filesystem, False, secrets)

    return _register(
        workspace,
        datastore_name,
        "AzureDataLakeGen2",
        config,
        creds,
        overwrite,
        None if skip_validation else reach,
    )


def register_azure_file_share(*args: Any, **kwargs: Any) -> Datastore:
    """Not provided: Azure Files has no fsspec filesystem installed with aml_jupyter."""
    raise V1NameNotSupported(
        "Datastore.register_azure_file_share",
        "Azure Files has no fsspec filesystem here: put the files in a blob container "
        "(Datastore.register_azure_blob_container), or mount the share (SMB/NFS) and use "
        "Datastore.register_local(ws, name, '/mnt/share')",
    )


def register_local(
    workspace: Workspace,
    datastore_name: str,
    path: str | os.PathLike[str],
    overwrite: bool = False,
    create_if_not_exists: bool = False,
) -> Datastore:
    """Ours: register a folder of this machine (absolute after ``~`` expansion) as a
    datastore. The folder must exist (``create_if_not_exists`` makes it)."""
    check_datastore_name(datastore_name)
    if not isinstance(path, (str, os.PathLike)) or not str(path).strip():
        raise AmlError(f"A local datastore's path is a folder path; got {path!r:.80}.")
    try:
        folder = Path(path).expanduser().resolve()
    except (RuntimeError, OSError) as exc:  # a ~user with no such user, a link loop
        raise AmlError(f"Cannot use {str(path)!r} as a datastore folder: {exc}.") from None

    def reach() -> None:
        if create_if_not_exists:
            folder.mkdir(parents=True, exist_ok=True)
        if not folder.is_dir():
            raise AmlError(
                f"{folder} is not a folder; make it first, or pass create_if_not_exists=True."
            )

    return _register(
        workspace,
        datastore_name,
        "Local",
        {"folder": str(folder)},
        {},
        overwrite,
        reach,
    )


def register_s3(
    workspace: Workspace,
    datastore_name: str,
    bucket: str,
    prefix: str | None = None,
    endpoint_url: str | None = None,
    access_key_id: str | None = None,
    secret_access_key: str | None = None,
    region: str | None = None,
    session_token: str | None = None,
    overwrite: bool = False,
    create_if_not_exists: bool = False,
    skip_validation: bool = False,
) -> Datastore:
    """Ours: register an S3 bucket (optionally only under ``prefix``) as a datastore, for
    users off Azure: AWS, or any S3-compatible store by its ``endpoint_url`` (MinIO, Ceph,
    ``http://127.0.0.1:9000``). The keys are kept encrypted; without them botocore's own
    chain (environment, ``~/.aws``) is used when the store is reached. Unless
    ``skip_validation``, the bucket must answer (``create_if_not_exists`` makes it)."""
    from .datastore import relative_path

    check_bucket_name(bucket)
    clean_prefix = relative_path(prefix)
    for what, value in (
        ("access_key_id", access_key_id),
        ("secret_access_key", secret_access_key),
        ("session_token", session_token),
    ):
        _check_secret(what, value)
    if bool(access_key_id) != bool(secret_access_key):
        raise AmlError("Give both access_key_id and secret_access_key, or neither.")
    if endpoint_url is not None:
        check_endpoint_url("endpoint_url", str(endpoint_url))
    creds = {
        "access_key_id": access_key_id,
        "secret_access_key": secret_access_key,
        "session_token": session_token,
    }
    config = {
        "bucket": bucket,
        "prefix": clean_prefix,
        "endpoint_url": endpoint_url,
        "region": region,
    }

    def reach() -> None:
        reach_s3_bucket(
            bucket,
            endpoint_url,
            region,
            {k: v for k, v in creds.items() if v},
            create_if_not_exists,
        )

    return _register(
        workspace,
        datastore_name,
        "S3",
        config,
        creds,
        overwrite,
        None if skip_validation else reach,
    )

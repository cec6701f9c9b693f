"""The rules for what names a datastore's registration takes from the user: the datastore's
own name (v1's rule), an Azure container's, an S3 bucket's, and where its credentials' secret
is kept. Each check returns the clean value or raises an :class:`AmlError` saying the rule."""

from __future__ import annotations

import re
from typing import Any

from ..errors import AmlError

#: v1: letters, digits and underscores. The length keeps its secret's name in Key Vault's 127.
_DATASTORE = re.compile(r"^[A-Za-z0-9_]{1,100}$")
#: Azure: 3-63 lowercase letters, digits and single dashes, starting and ending alphanumeric.
_CONTAINER = re.compile(r"^(?=.{3,63}$)[a-z0-9]+(-[a-z0-9]+)*$")
#: Azure storage accounts: 3-24 lowercase letters and digits.
_ACCOUNT = re.compile(r"^[a-z0-9]{3,24}$")
#: S3 (and S3-compatible stores): 3-63 lowercase letters, digits, dots and dashes.
_BUCKET = re.compile(r"^(?=.{3,63}$)[a-z0-9][a-z0-9.-]*[a-z0-9]$")
#: Names v1 gives a workspace's own datastores; they cannot be registered.
RESERVED = ("workspaceblobstore", "workspacefilestore", "workspaceartifactstore")


def check_datastore_name(name: Any) -> str:
    """A datastore name as v1 took them (1-100 letters, digits and underscores), not one of
    the workspace's own (``workspaceblobstore`` ...)."""
    if not isinstance(name, str) or not _DATASTORE.fullmatch(name):
        raise AmlError(
            f"Datastore name {name!r:.80} is not allowed: use 1-100 letters, digits and "
            "underscores (e.g. 'training_data')."
        )
    if name.lower() in RESERVED:
        raise AmlError(
            f"{name!r} is the name of the workspace's own datastore; choose another name "
            "(datastore.set_as_default() makes a registered one the default)."
        )
    return name


def credentials_secret(name: str) -> str:
    """The secret a datastore's credentials are kept in: ``aml-datastore-<name>`` (Key
    Vault's names have no underscores: they become dashes, which datastore names never
    hold, so two datastores never share one)."""
    return f"aml-datastore-{check_datastore_name(name).replace('_', '-')}"


def check_container_name(name: Any) -> str:
    """An Azure Blob container (or ADLS Gen2 file system) name, as Azure takes them."""
    if not isinstance(name, str) or not _CONTAINER.fullmatch(name):
        raise AmlError(
            f"Container name {name!r:.80} is not allowed by Azure: use 3-63 lowercase letters, "
            "digits and single dashes, starting and ending with a letter or digit."
        )
    return name


def check_account_name(name: Any) -> str:
    """An Azure storage account name (3-24 lowercase letters and digits)."""
    if not isinstance(name, str) or not _ACCOUNT.fullmatch(name):
        raise AmlError(
            f"Storage account name {name!r:.80} is not allowed by Azure: use 3-24 lowercase "
            "letters and digits."
        )
    return name


def check_bucket_name(name: Any) -> str:
    """An S3 bucket name (3-63 lowercase letters, digits, dots and dashes; no '..')."""
    if not isinstance(name, str) or not _BUCKET.fullmatch(name) or ".." in name:
        raise AmlError(
            f"Bucket name {name!r:.80} is not allowed: use 3-63 lowercase letters, digits, "
            "dots and dashes, starting and ending with a letter or digit."
        )
    return name


def check_endpoint_url(what: str, url: str) -> str:
    """An endpoint URL as a datastore's settings keep it: http(s), and never holding a
    credential (a query string such as a SAS token, or ``user:password@``): settings are
    plain text, so the message says where a credential goes instead (and never repeats it)."""
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        raise AmlError(f"{what} is not a URL.") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise AmlError(f"{what} is an http(s) URL with a host (e.g. http://127.0.0.1:10000/acct).")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AmlError(
            f"{what} holds a query string or a user name (a SAS token, a password?), which "
            "datastore settings would keep in plain text: give the URL without it, and the "
            "credential as sas_token=, account_key= or the access keys (kept encrypted)."
        )
    return url

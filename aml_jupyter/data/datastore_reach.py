"""Reaching a store before it is registered: one quick request (no retries, short timeouts)
that tells a wrong key from a missing container from an endpoint that does not answer, each
as an :class:`AmlError` saying what to fix. No credential is ever in the message: the
server's own text is left out, and every credential given is blanked from what remains."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..errors import AmlError

#: Seconds to connect, and to wait for an answer, when checking a store.
CONNECT_TIMEOUT = 10
READ_TIMEOUT = 30


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """``text`` with every secret (and the URL-quoted form of a SAS token) blanked."""
    from urllib.parse import quote

    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), secret.lstrip("?")}:
                if form:
                    text = text.replace(form, "***")
    return text


def _code(exc: Any) -> str:
    """The service's error code of an Azure exception (``AuthorizationFailure``, ``403``)."""
    code = getattr(exc, "error_code", None) or getattr(exc, "status_code", "")
    return str(getattr(code, "value", code))


def reach_blob_container(
    connection_string: str | None,
    account_url: str,
    container: str,
    create: bool,
    secrets: Iterable[str | None],
    credential: Any = None,
) -> None:
    """Ask the blob service at ``account_url`` for ``container``'s properties (making the
    container first when ``create`` and it is missing)."""
    from .datastore_kinds import _need

    _need("adlfs", "azure")
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceExistsError,
        ResourceNotFoundError,
        ServiceRequestError,
    )
    from azure.storage.blob import ContainerClient

    options: dict[str, Any] = {
        "retry_total": 0,
        "connection_timeout": CONNECT_TIMEOUT,
        "read_timeout": READ_TIMEOUT,
    }
    secrets = list(secrets)
    where = f"container {container!r} at {account_url}"
    if connection_string is not None:
        client = ContainerClient.from_connection_string(connection_string, container, **options)
    else:
        client = ContainerClient(account_url, container, credential=credential, **options)
    try:
        with client:
            try:
                client.get_container_properties()
            except ResourceNotFoundError:
                if not create:
                    raise AmlError(
                        f"There is no {where}: create it, or register with "
                        "create_if_not_exists=True. Nothing was registered."
                    ) from None
                try:
                    client.create_container()
                except ResourceExistsError:  # made meanwhile by someone else: fine
                    pass
    except ClientAuthenticationError as exc:
        code = _code(exc)
        raise AmlError(
            f"The storage account refused the credentials for {where} ({code}): check "
            "account_key or sas_token (a SAS token needs read, list and write on the "
            "container). Nothing was registered."
        ) from None
    except ServiceRequestError as exc:
        raise AmlError(
            scrub(
                f"Cannot reach {account_url} for container {container!r}: {type(exc).__name__}. Check "
                "account_name and endpoint (and that the service runs). Nothing was registered.",
                secrets,
            )
        ) from None
    except HttpResponseError as exc:
        code = _code(exc)
        if getattr(exc, "status_code", None) in (401, 403):
            raise AmlError(
                f"The storage account refused the credentials for {where} ({code}): check "
                "account_key or sas_token. Nothing was registered."
            ) from None
        raise AmlError(
            f"The blob service answered {code} for {where}. Nothing was registered."
        ) from None


def reach_s3_bucket(
    bucket: str,
    endpoint_url: str | None,
    region: str | None,
    creds: dict[str, str],
    create: bool,
) -> None:
    """``HeadBucket`` on ``bucket`` with the keys given (making it when ``create`` and it is
    missing), through botocore (which s3fs is built on)."""
    from .datastore_kinds import _need

    _need("s3fs", "s3")
    import botocore.session
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    where = f"bucket {bucket!r}" + (f" at {endpoint_url}" if endpoint_url else "")
    session = botocore.session.get_session()
    client = session.create_client(
        "s3",
        region_name=region,
        endpoint_url=endpoint_url,
        aws_access_key_id=creds.get("access_key_id"),
        aws_secret_access_key=creds.get("secret_access_key"),
        aws_session_token=creds.get("session_token"),
        config=Config(
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            retries={"max_attempts": 1, "mode": "standard"},
        ),
    )
    try:
        try:
            client.head_bucket(Bucket=bucket)
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", status)
            if status == 404 or code in ("404", "NoSuchBucket"):
                if not create:
                    raise AmlError(
                        f"There is no {where}: create it, or register with "
                        "create_if_not_exists=True. Nothing was registered."
                    ) from None
                options = {}
                if region and region != "us-east-1":
                    options["CreateBucketConfiguration"] = {"LocationConstraint": region}
                client.create_bucket(Bucket=bucket, **options)
                return
            if status in (401, 403):
                raise AmlError(
                    f"The store refused the keys for {where} ({code}): check access_key_id "
                    "and secret_access_key, and that they may read the bucket. Nothing was "
                    "registered."
                ) from None
            raise AmlError(
                f"The store answered {code} for {where}. Nothing was registered."
            ) from None
    except NoCredentialsError:
        raise AmlError(
            f"No keys for {where}: pass access_key_id and secret_access_key (or set them in "
            "the environment / ~/.aws). Nothing was registered."
        ) from None
    except ClientError as exc:  # from create_bucket
        code = exc.response.get("Error", {}).get("Code", "")
        raise AmlError(f"Could not create {where} ({code}). Nothing was registered.") from None
    except BotoCoreError as exc:  # EndpointConnectionError, a bad URL ...
        raise AmlError(
            scrub(
                f"Cannot reach {where}: {type(exc).__name__}. Check endpoint_url and region "
                "(and that the service runs). Nothing was registered.",
                creds.values(),
            )
        ) from None
    finally:
        client.close()

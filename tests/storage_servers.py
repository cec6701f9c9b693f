"""Real storage servers on 127.0.0.1 for the datastore tests: Azurite (Microsoft's Azure
Storage emulator, blob service, from npm: ``make azurite`` installs it into tools/azurite/)
and ``moto_server`` (an S3 endpoint, from the ``moto[server]`` dev dependency). Each fixture
starts its server in a temp folder on a free port, waits until it answers, and stops it by PID.
Import the fixtures into a test module: ``from tests.storage_servers import azurite, s3``.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
AZURITE_BIN = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
#: Azurite's published development account (the same on every machine; not a secret).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(
    port: int, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60
) -> None:
    """Poll until ``port`` accepts connections (or the server exits: fail with its log)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited {proc.returncode}: {log.read_text()[-2000:]}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"server did not listen on {port} in {timeout} s: {log.read_text()[-2000:]}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server's process group (by its PID), SIGKILL if it lingers (Azurite waits
    for clients' keep-alive connections to close)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=3)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def start(
    argv: list[str], port: int, folder: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    log = folder / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=folder,
            start_new_session=True,  # its own group: stop() ends node's children too
            env={**os.environ, **(env or {})},
        )
    try:
        wait_listening(port, proc, log)
    except BaseException:
        stop(proc)
        raise
    return proc


@dataclass
class Azurite:
    port: int

    @property
    def url(self) -> str:
        """The blob endpoint of the dev account: what ``endpoint=`` takes."""
        return f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
            f"AccountKey={AZURITE_KEY};BlobEndpoint={self.url};"
        )

    def new_container(self) -> str:
        """A fresh, empty container's name."""
        from azure.storage.blob import BlobServiceClient

        name = f"c{uuid.uuid4().hex[:12]}"
        with BlobServiceClient.from_connection_string(self.connection_string) as service:
            service.create_container(name)
        return name

    def blob_names(self, container: str) -> list[str]:
        from azure.storage.blob import ContainerClient

        with ContainerClient.from_connection_string(self.connection_string, container) as c:
            return sorted(b.name for b in c.list_blobs())


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    found = str(AZURITE_BIN) if AZURITE_BIN.exists() else shutil.which("azurite-blob")
    if not found:
        pytest.skip("Azurite is not installed: `make azurite` installs it (needs npm)")
    pytest.importorskip("adlfs", reason="adlfs is missing: install the dev extra")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="azurite-") as folder:
        argv = [found, "--blobHost", "127.0.0.1", "--blobPort", str(port)]
        argv += ["--location", folder, "--silent", "--skipApiVersionCheck"]
        proc = start(argv, port, Path(folder))
        try:
            yield Azurite(port)
        finally:
            stop(proc)


@dataclass
class S3Server:
    port: int
    #: The keys of an IAM user moto made (moto checks keys: see :func:`s3`).
    access_key_id: str
    secret_access_key: str

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self) -> object:
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.url,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            region_name="us-east-1",
        )

    def new_bucket(self) -> str:
        """A fresh bucket, made with boto3 (s3fs's mkdir fails against moto in us-east-1)."""
        name = f"b{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def keys(self, bucket: str) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=bucket)  # type: ignore[attr-defined]
        return sorted(o["Key"] for o in listed.get("Contents", []))


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    pytest.importorskip("moto.server", reason="moto[server] is missing: install the dev extra")
    pytest.importorskip("s3fs", reason="s3fs is missing: install the dev extra")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="moto-") as folder:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
        # moto checks signatures and IAM policies after its first 3 requests: those make a
        # user allowed s3:* and its keys, so a wrong key is refused as AWS would.
        proc = start(argv, port, Path(folder), env={"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
        try:
            yield S3Server(port, *_iam_keys(f"http://127.0.0.1:{port}"))
        finally:
            stop(proc)


def _iam_keys(url: str) -> tuple[str, str]:
    import json

    import boto3

    iam = boto3.client(
        "iam",
        endpoint_url=url,
        aws_access_key_id="bootstrap",
        aws_secret_access_key="bootstrap",
        region_name="us-east-1",
    )
    iam.create_user(UserName="tests")
    policy = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}],
    }
    iam.put_user_policy(UserName="tests", PolicyName="s3", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="tests")["AccessKey"]
    return key["AccessKeyId"], key["SecretAccessKey"]

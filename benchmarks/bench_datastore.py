"""Uploading and downloading 1,000 small files to a blob datastore: ours vs the loop a user
would write with ``azure-storage-blob``.

Setup: Azurite (the Azure Storage emulator, ``make azurite``) on 127.0.0.1 in a temp folder;
a folder of 1,000 files of 1-4 KB (~2.5 MB, in 10 subfolders); a workspace with the container
registered as an Azure Blob datastore (``endpoint=`` Azurite's blob URL).

Measured (median of REPS, each into a fresh target path):

* ``datastore.upload(folder, target)``: ours (adlfs: the files sent concurrently, each one
  committed whole);
* the baseline: ``BlobClient.upload_blob`` for each file in a loop (one ``ContainerClient``,
  ``overwrite=True``), as v1-era notebooks and the Azure SDK samples do;
* ``datastore.download(local, prefix=target)``: ours (each file written to a temporary name
  and renamed);
* the baseline: ``download_blob().readall()`` for each blob listed, written to its path.

Goal: ours no slower than the loop. Run: ``.venv/bin/python benchmarks/bench_datastore.py``.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_environment, fmt_s, header, median, print_table, temp_folder, verdict

ROOT = Path(__file__).resolve().parent.parent
AZURITE = ROOT / "tools" / "azurite" / "node_modules" / ".bin" / "azurite-blob"
ACCOUNT = "devstoreaccount1"
#: Azurite's published development key (the same everywhere; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
N_FILES = 1_000
REPS = 3


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_azurite(folder: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    argv = [str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port)]
    argv += ["--location", str(folder), "--silent", "--skipApiVersionCheck"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return proc, port
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    raise SystemExit("Azurite did not start")


def make_files(folder: Path) -> None:
    rng = random.Random(7)
    for i in range(N_FILES):
        path = folder / f"part{i % 10}" / f"f{i:04d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(rng.randint(1024, 4096)))


def baseline_upload(conn: str, container: str, src: Path, target: str) -> None:
    from azure.storage.blob import ContainerClient

    with ContainerClient.from_connection_string(conn, container) as client:
        for path in sorted(src.rglob("*")):
            if path.is_file():
                name = f"{target}/{path.relative_to(src).as_posix()}"
                with path.open("rb") as f:
                    client.upload_blob(name, f, overwrite=True)


def baseline_download(conn: str, container: str, prefix: str, dest: Path) -> None:
    from azure.storage.blob import ContainerClient

    with ContainerClient.from_connection_string(conn, container) as client:
        for blob in client.list_blobs(name_starts_with=prefix):
            path = dest / blob.name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(client.download_blob(blob.name).readall())


def timed(fn: object, *args: object) -> float:
    start = time.perf_counter()
    fn(*args)  # type: ignore[operator]
    return time.perf_counter() - start


def main() -> None:
    clean_environment()
    header("datastore", f"upload/download of {N_FILES:,} small files to Azurite")
    if not AZURITE.exists():
        print("Azurite is not installed (make azurite): skipped.")
        return
    from azure.storage.blob import BlobServiceClient

    from aml_jupyter import Datastore, Workspace

    with temp_folder("datastore") as tmp:
        os.environ["AML_SECRETS_KEY_DIR"] = str(tmp / "keys")
        (tmp / "azurite").mkdir()
        proc, port = start_azurite(tmp / "azurite")
        try:
            url = f"http://127.0.0.1:{port}/{ACCOUNT}"
            conn = (
                f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
                f"BlobEndpoint={url};"
            )
            BlobServiceClient.from_connection_string(conn).create_container("bench")
            src = tmp / "src"
            make_files(src)
            ws = Workspace.create(str(tmp / "ws"))
            ds = Datastore.register_azure_blob_container(
                ws, "bench", "bench", ACCOUNT, account_key=KEY, endpoint=url
            )
            ours_up, base_up, ours_down, base_down = [], [], [], []
            for rep in range(REPS):
                ours_up.append(timed(ds.upload, str(src), f"ours{rep}", False, False))
                base_up.append(timed(baseline_upload, conn, "bench", src, f"base{rep}"))
                ours_down.append(
                    timed(ds.download, str(tmp / f"d-ours{rep}"), f"ours{rep}", False, False)
                )
                base_down.append(
                    timed(baseline_download, conn, "bench", f"base{rep}", tmp / f"d-base{rep}")
                )
                got = sum(1 for p in (tmp / f"d-ours{rep}").rglob("*") if p.is_file())
                assert got == N_FILES, got
                shutil.rmtree(tmp / f"d-ours{rep}")
                shutil.rmtree(tmp / f"d-base{rep}")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    up, bu, down, bd = (median(v) for v in (ours_up, base_up, ours_down, base_down))
    print_table(
        f"{N_FILES:,} files, median of {REPS}",
        ["", "datastore API (ours)", "BlobClient loop", "ratio", "goal: ours <= loop"],
        [
            ["upload", fmt_s(up), fmt_s(bu), f"{bu / up:.1f}x", verdict(up, bu)],
            ["download", fmt_s(down), fmt_s(bd), f"{bd / down:.1f}x", verdict(down, bd)],
        ],
    )


if __name__ == "__main__":
    main()

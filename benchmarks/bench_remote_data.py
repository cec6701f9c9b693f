"""A remote run's input read on its node through grants, vs a node holding the account key.

Setup: Azurite on 127.0.0.1 (``make azurite``), 1,000 files of 1-4 KB in a blob datastore
(account key), registered as a FileDataset (sizes and sha256 pinned).

Measured (median of REPS):

* submit side: the grants of the 1,000 files (``resolve_inputs``: the pinned check, one SAS
  per file, the grants file);
* node side, ours: every file fetched by its SAS URL with plain HTTP (no SDK, no key),
  8 at a time, each checked against its pinned size and sha256 and renamed whole;
* the baseline: the loop a script holding the key would run on the node,
  ``download_blob().readall()`` for each blob (one ``ContainerClient``), unchecked.

Goal: the node's fetch no slower than the keyed loop. Run:
``.venv/bin/python benchmarks/bench_remote_data.py``.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import clean_environment, fmt_s, header, median, print_table, temp_folder, verdict
from bench_datastore import (
    ACCOUNT,
    AZURITE,
    KEY,
    N_FILES,
    baseline_download,
    make_files,
    start_azurite,
)

REPS = 3


def main() -> None:
    clean_environment()
    header("remote_data", f"a remote run's input of {N_FILES:,} small files, on its node")
    if not AZURITE.exists():
        print("Azurite is not installed (make azurite): skipped.")
        return
    from azure.storage.blob import BlobServiceClient

    from aml_jupyter import Dataset, Datastore, Workspace
    from aml_jupyter.data.grants import parse
    from aml_jupyter.data.node_data import fetch_input
    from aml_jupyter.data.remote_inputs import resolve_inputs

    with temp_folder("remote-data") as tmp:
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
            make_files(tmp / "src")
            ws = Workspace.create(str(tmp / "ws"))
            store = Datastore.register_azure_blob_container(
                ws, "bench", "bench", ACCOUNT, account_key=KEY, endpoint=url
            )
            store.upload(str(tmp / "src"), "data", False, False)
            ds = Dataset.File.from_files((store, "data/**")).register(ws, "bench")
            spec = ds.as_named_input("d").as_download()._aml_run_input(ws, 1)
            grants_s, ours, base = [], [], []
            for rep in range(REPS):
                start = time.perf_counter()
                resolution = resolve_inputs(ws, {"inputDatasets": [spec]})
                grants_s.append(time.perf_counter() - start)
                files = parse(resolution.grants).inputs[0].files
                where = tmp / f"ours{rep}"
                start = time.perf_counter()
                fetch_input("d", files, where, open, read_only=False)
                ours.append(time.perf_counter() - start)
                assert sum(1 for p in where.rglob("*") if p.is_file()) == N_FILES
                start = time.perf_counter()
                baseline_download(conn, "bench", "data/", tmp / f"base{rep}")
                base.append(time.perf_counter() - start)
                shutil.rmtree(where)
                shutil.rmtree(tmp / f"base{rep}")
        finally:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    g, o, b = median(grants_s), median(ours), median(base)
    print_table(
        f"{N_FILES:,} files, median of {REPS}",
        ["", "ours (grants, no key)", "keyed SDK loop", "ratio", "goal: ours <= loop"],
        [
            ["submit: grants", fmt_s(g), "-", "-", "-"],
            ["node: fetch + check", fmt_s(o), fmt_s(b), f"{b / o:.1f}x", verdict(o, b)],
        ],
    )


if __name__ == "__main__":
    main()

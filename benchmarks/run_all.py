"""Run every benchmark in sequence: ``.venv/bin/python benchmarks/run_all.py [NAME ...]``.

Each ``bench_*.py`` runs in its own process (so one's imports and caches do not help the
next); their output streams through and is also saved to ``benchmarks/results/<time>.txt``
(git-ignored). Names select a subset: ``run_all.py log listing``. The exit code is 1 when a
benchmark crashed; a goal that is missed is reported in the tables, never as a failure.
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = [
    "log",
    "metrics_read",
    "mlflow_logging",
    "submit",
    "listing",
    "round_trips",
    "api",
    "snapshot",
    "widget",
    "sidebar",
    "env",
    "docker",
    "targets",
    "ray_overhead",
    "serving",
    "datastore",
    "datasets",
    "partitions",
    "remote_data",
]


def main(argv: list[str]) -> int:
    names = argv or ORDER
    unknown = [n for n in names if not (HERE / f"bench_{n.removeprefix('bench_')}.py").exists()]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(ORDER)}")
        return 2
    results = HERE / "results"
    results.mkdir(exist_ok=True)
    log_path = results / f"{datetime.now():%Y%m%d-%H%M%S}.txt"
    summary = []
    with open(log_path, "w", encoding="utf-8") as log:
        for name in names:
            script = HERE / f"bench_{name.removeprefix('bench_')}.py"
            t0 = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, str(script)],
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
            )
            assert proc.stdout is not None
            for line in proc.stdout:
                sys.stdout.write(line)
                log.write(line)
            code = proc.wait()
            elapsed = time.perf_counter() - t0
            summary.append((script.name, code, elapsed))
            sys.stdout.write("\n")
            log.write("\n")
            log.flush()
        lines = ["== run_all summary"] + [
            f"{name:20s} {'ok' if code == 0 else f'CRASHED (exit {code})':20s} {elapsed:6.1f} s"
            for name, code, elapsed in summary
        ]
        text = "\n".join(lines) + f"\noutput saved to {log_path}\n"
        sys.stdout.write(text)
        log.write(text)
    return 0 if all(code == 0 for _, code, _ in summary) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Submit-to-Completed overhead of a hello-world script, against running it with bare Python.

Measured, interleaved round by round so drift hits every variant alike (REPS rounds):

* ``python hello.py``: the baseline a user would otherwise type;
* ``aml run submit-script hello.py --wait`` (the CLI, when ``aml_jupyter.frontends.cli.main`` exists);
* the Python API from a fresh process:
  ``python -c "...Experiment(ws, 'api').submit(ScriptRunConfig('.', 'hello.py')).wait_for_completion()"``;
* the Python API in this (already running, already imported) process: submit + wait.

Overhead = median(variant) - median(bare python). Then a profile of where the time goes:
status transitions seen in the database, interpreter/import costs of the processes
involved, and the git probe a submit makes. Goal: <= 200 ms overhead.

Bytecode: when this environment sets ``PYTHONDONTWRITEBYTECODE`` (no .pyc files are ever
written, so every process compiles every module it imports), the main table is measured
with a bytecode cache in a temp folder (``PYTHONPYCACHEPREFIX``), as a normal install has;
a second, smaller table shows the figures with no bytecode, as this environment is.
Run: ``.venv/bin/python benchmarks/bench_submit.py``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    chdir,
    clean_environment,
    fmt_ms,
    header,
    median,
    percentile,
    print_table,
    temp_folder,
    verdict,
)

REPS = 15
NO_BYTECODE_REPS = 5
PROFILE_REPS = 8
SHAPE_REPS = 10
GOAL_S = 0.200
HELLO = 'print("hello, world")\n'

PY = sys.executable
API_SNIPPET = (
    "from aml_jupyter import Experiment, ScriptRunConfig, Workspace; "
    "ws = Workspace.from_config(); "
    "Experiment(ws, 'api').submit(ScriptRunConfig('.', 'hello.py')).wait_for_completion()"
)


def cli_command() -> list[str] | None:
    """The ``aml`` CLI as a user runs it (the venv's entry script), None if there is no CLI."""
    if importlib.util.find_spec("aml_jupyter.frontends.cli.main") is None:
        return None
    entry = Path(PY).parent / "aml"
    base = [str(entry)] if entry.exists() else [PY, "-m", "aml_jupyter"]
    return [*base, "run", "submit-script", "hello.py", "--wait"]


def timed(cmd: list[str], cwd: Path) -> float:
    """Wall seconds of one command (its output discarded); raises if it fails."""
    t0 = time.perf_counter()
    done = subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {done.returncode}: {done.stderr.decode()[-800:]}"
        )
    return elapsed


def in_process(exp, project: Path) -> float:
    """Submit + wait in this process; wall seconds."""
    from aml_jupyter import ScriptRunConfig

    t0 = time.perf_counter()
    exp.submit(ScriptRunConfig(str(project), "hello.py")).wait_for_completion()
    return time.perf_counter() - t0


def measure(project: Path, reps: int, exp) -> dict[str, list[float]]:
    """``reps`` interleaved rounds of every variant."""
    variants: dict[str, object] = {"bare": [PY, "hello.py"]}
    cli = cli_command()
    if cli is not None:
        try:
            timed(cli, project)  # one try first: the CLI may be half-written
            variants["cli"] = cli
        except Exception as exc:
            print(f"note: the CLI failed, so it is left out: {exc}")
    variants["api_fresh"] = [PY, "-c", API_SNIPPET]
    variants["api_inprocess"] = None
    times: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(reps):
        for name, cmd in variants.items():
            if cmd is None:
                times[name].append(in_process(exp, project))
            else:
                times[name].append(timed(cmd, project))  # type: ignore[arg-type]
    return times


LABELS = {
    "bare": "python hello.py (baseline)",
    "cli": "aml run submit-script hello.py --wait",
    "api_fresh": "python -c '...submit(cfg).wait_for_completion()'",
    "api_inprocess": "submit(cfg).wait_for_completion(), in-process",
}


def table(title: str, times: dict[str, list[float]], with_goal: bool) -> dict[str, float]:
    base = median(times["bare"])
    rows, overheads = [], {}
    for name, values in times.items():
        med = median(values)
        over = med - base
        overheads[name] = over
        row = [
            LABELS[name],
            len(values),
            fmt_ms(med),
            fmt_ms(percentile(values, 90)),
            "-" if name == "bare" else fmt_ms(over),
        ]
        if with_goal:
            row += [
                "" if name == "bare" else f"<= {GOAL_S * 1000:.0f} ms",
                "" if name == "bare" else verdict(over, GOAL_S),
            ]
        rows.append(row)
    headers = ["variant", "n", "median", "p90", "overhead vs bare"]
    if with_goal:
        headers += ["goal", "meets goal"]
    print_table(title, headers, rows)
    return overheads


# profile ------------------------------------------------------------------------------------
def watch_statuses(db: Path, since: float, stop: threading.Event, seen: dict[str, float]) -> None:
    """Poll the newest run's status every ~1 ms; record when each status was first seen."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        while not stop.is_set():
            row = conn.execute(
                "SELECT status FROM runs WHERE created_utc >= ? ORDER BY created_utc DESC LIMIT 1",
                (since,),
            ).fetchone()
            now = time.time()
            if row is not None:
                seen.setdefault(row[0], now)
            time.sleep(0.001)
    finally:
        conn.close()


def profile_transitions(ws, exp, project: Path) -> list[list[object]]:
    """Median time spent between the stages of an in-process submit + wait.

    created/started/ended come from the run's row (exact); Preparing, Starting and
    Finalizing are the moments a 1 ms poll of the database first saw them (a stage shorter
    than the poll can be missed: its row then has fewer samples).
    """
    from aml_jupyter import ScriptRunConfig

    order = [
        "submit() returns (validate, snapshot, records, git probe, start supervisor)",
        "  of which before the run row exists (validate, snapshot)",
        "supervisor: submit returned -> script Running",
        "  interpreter + imports + open workspace (-> Preparing, polled)",
        "  restore the snapshot (Preparing -> Starting, polled)",
        "  start the script process (Starting -> Running)",
        "script Running -> run Completed",
        "  script runs, supervisor sees it exit (-> Finalizing, polled)",
        "  finalize: harvest files, metric summary (Finalizing -> Completed)",
        "wait_for_completion() sees Completed and returns",
        "total: submit -> wait returns",
    ]
    phases: dict[str, list[float]] = {name: [] for name in order}

    for _ in range(PROFILE_REPS):
        seen: dict[str, float] = {}
        stop = threading.Event()
        t0 = time.time()
        watcher = threading.Thread(
            target=watch_statuses, args=(ws.folder / "aml.db", t0, stop, seen)
        )
        watcher.start()
        run = exp.submit(ScriptRunConfig(str(project), "hello.py"))
        t_ret = time.time()
        run.wait_for_completion()
        t_done = time.time()
        stop.set()
        watcher.join()
        row = ws.store.get_run(run.id)
        created, started, ended = row.created_utc, row.started_utc, row.ended_utc
        prep, starting, final = seen.get("Preparing"), seen.get("Starting"), seen.get("Finalizing")
        values = [
            t_ret - t0,
            created - t0,
            started - t_ret,
            None if prep is None else prep - t_ret,
            None if prep is None or starting is None else starting - prep,
            None if starting is None else started - starting,
            ended - started,
            None if final is None else final - started,
            None if final is None else ended - final,
            t_done - ended,
            t_done - t0,
        ]
        for name, value in zip(order, values, strict=True):
            if value is not None:
                phases[name].append(value)
    return [
        [name, len(v), fmt_ms(median(v)) if v else "-", fmt_ms(max(v)) if v else "-"]
        for name, v in phases.items()
    ]


def process_cost(code: str, reps: int = 7) -> float:
    """Median wall seconds of ``python -c code``."""
    return median([timed([PY, "-c", code], Path.cwd()) for _ in range(reps)])


def importtime_top(module: str, count: int = 6) -> list[tuple[str, float]]:
    """The imports under ``module`` with the most time of their own (``python -X importtime``)."""
    done = subprocess.run(
        [PY, "-X", "importtime", "-c", f"import {module}"], capture_output=True, text=True
    )
    found: dict[str, float] = {}
    for line in done.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \| *(\S+)", line)
        if m and m.group(3) != module:
            found[m.group(3)] = int(m.group(1)) / 1e6
    return sorted(found.items(), key=lambda kv: -kv[1])[:count]


def profile_processes(project: Path) -> list[list[str]]:
    from aml_jupyter.snapshot.git import git_properties

    bare = process_cost("pass")
    rows = [["python -c pass (interpreter start)", fmt_ms(bare)]]
    for label, code in [
        (
            "import aml_jupyter.compute.local.supervisor (the supervisor's imports)",
            "import aml_jupyter.compute.local.supervisor",
        ),
        (
            "import pathspec (paid by the submitting process when the folder has .gitignore/.amlignore)",
            "import pathspec",
        ),
        (
            "imports of a fresh-process submit (API)",
            "import aml_jupyter.compute.local.target, aml_jupyter.tracking.run, aml_jupyter.compute.config",
        ),
        (
            "import aml_jupyter.frontends.cli.main + what submit-script loads",
            "import aml_jupyter.frontends.cli.main, aml_jupyter.frontends.submit, aml_jupyter.compute.local.target, aml_jupyter.tracking.run",
        ),
    ]:
        if "cli" in code and importlib.util.find_spec("aml_jupyter.frontends.cli.main") is None:
            continue
        rows.append([label, f"+{fmt_ms(process_cost(code) - bare)}"])
    for name, seconds in importtime_top("aml_jupyter.compute.local.supervisor"):
        rows.append([f"  -X importtime, supervisor imports {name} (self time)", fmt_ms(seconds)])

    def git_cost(folder: Path) -> float:
        values = []
        for _ in range(5):
            t0 = time.perf_counter()
            git_properties(folder)
            values.append(time.perf_counter() - t0)
        return median(values)

    rows.append(
        ["git_properties() outside a git repository (1 git call)", fmt_ms(git_cost(project))]
    )
    if shutil.which("git"):
        repo = project.parent / "gitrepo"
        repo.mkdir()
        (repo / "hello.py").write_text(HELLO)
        git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
        for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "init"]):
            subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
        rows.append(["git_properties() in a git repository (5 git calls)", fmt_ms(git_cost(repo))])
    return rows


def project_shapes(tmp: Path, bare_median: float, use_cli: bool) -> list[list[object]]:
    """The same hello world submitted from folders shaped like real projects.

    A ``.gitignore`` makes the snapshot import pathspec; a git repository adds the git probe
    (5 ``git`` calls for the run's properties). Interleaved, SHAPE_REPS rounds.
    """
    from aml_jupyter import Workspace

    shapes = {
        "plain folder (the table above)": tmp / "shape-plain",
        "folder with a .gitignore": tmp / "shape-ignore",
        "git repository with a .gitignore": tmp / "shape-repo",
    }
    for name, folder in shapes.items():
        folder.mkdir()
        (folder / "hello.py").write_text(HELLO)
        if ".gitignore" in name:
            (folder / ".gitignore").write_text("*.pyc\ndata/\n.aml/\n")
        if "git repository" in name:
            git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.com"]
            for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "init"]):
                subprocess.run([*git, *args], cwd=folder, check=True, capture_output=True)
        Workspace.create(folder)
    if not shutil.which("git"):
        shapes.pop("git repository with a .gitignore")
    cmd = cli_command() if use_cli else [PY, "-c", API_SNIPPET]
    assert cmd is not None
    times: dict[str, list[float]] = {name: [] for name in shapes}
    for rep in range(SHAPE_REPS + 1):
        for name, folder in shapes.items():
            elapsed = timed(cmd, folder)
            if rep:  # the first round warms up
                times[name].append(elapsed)
    label = "aml run submit-script --wait" if use_cli else "API from a fresh process"
    return [
        [
            f"{label}, {name}",
            len(v),
            fmt_ms(median(v)),
            fmt_ms(median(v) - bare_median),
            f"<= {GOAL_S * 1000:.0f} ms",
            verdict(median(v) - bare_median, GOAL_S),
        ]
        for name, v in times.items()
    ]


def main() -> None:
    clean_environment()
    header("bench_submit", "submit-to-Completed overhead of a hello-world script")
    from aml_jupyter import Experiment, Workspace

    no_bytecode = bool(os.environ.get("PYTHONDONTWRITEBYTECODE"))
    with temp_folder("submit") as tmp:
        project = tmp / "project"
        project.mkdir()
        (project / "hello.py").write_text(HELLO)
        ws = Workspace.create(project)
        exp = Experiment(ws, "inprocess")
        saved = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")}
        with chdir(project):
            if no_bytecode:
                # Children (CLI, supervisor, script) get a bytecode cache, as a normal install.
                os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
                os.environ["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
            measure(project, 1, exp)  # warm-up: fills the bytecode cache and the page cache
            times = measure(project, REPS, exp)
            overheads = table(
                f"Submit -> Completed, hello world ({REPS} interleaved rounds"
                + (", bytecode cached" if no_bytecode else "")
                + ")",
                times,
                with_goal=True,
            )
            print_table(
                f"Project shape: the same hello world from folders like real projects"
                f" ({SHAPE_REPS} interleaved rounds; overhead vs the bare median above)",
                ["variant", "n", "median", "overhead", "goal", "meets goal"],
                project_shapes(tmp, median(times["bare"]), "cli" in times),
            )
            print_table(
                f"Profile: where an in-process submit + wait spends its time ({PROFILE_REPS} runs;"
                " 'polled' stages are seen by 1 ms DB polling, which can miss a short one)",
                ["phase", "n", "median", "max"],
                profile_transitions(ws, exp, project),
            )
            print_table(
                "Process and import costs (median of 7 fresh processes)",
                ["what", "wall time"],
                profile_processes(project),
            )
            if no_bytecode:
                for key, value in saved.items():
                    if value is None:
                        os.environ.pop(key, None)
                    else:
                        os.environ[key] = value
                nb_times = measure(project, NO_BYTECODE_REPS, exp)
                table(
                    f"Same, with PYTHONDONTWRITEBYTECODE=1 as this environment sets it "
                    f"(no .pyc: every process compiles its imports; {NO_BYTECODE_REPS} rounds)",
                    nb_times,
                    with_goal=False,
                )
    best = "cli" if "cli" in overheads else "api_fresh"
    print(
        f"Goal: <= {GOAL_S * 1000:.0f} ms overhead. {LABELS[best]}: "
        f"{fmt_ms(overheads[best])} ({'met' if overheads[best] <= GOAL_S else 'NOT met'}); "
        f"in-process API: {fmt_ms(overheads['api_inprocess'])} "
        f"({'met' if overheads['api_inprocess'] <= GOAL_S else 'NOT met'})."
    )


if __name__ == "__main__":
    main()

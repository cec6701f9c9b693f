"""How live ``RunDetails`` is, what it costs while it watches, and how it copes with scale.

Measured, all in this process (the widget's thread runs here, as it would in a kernel):

* print -> log view: a submitted script prints 100 lines 50 ms apart, each carrying its
  ``time.time()``; a ``log_view`` observer notes when each line first shows up. Arrival minus
  print time: median, p95, max. Goal: <= 0.5 s.
* ``run.log`` -> chart: a script logs ``time.time()`` as metric ``t`` 100 times, 50 ms apart;
  an observer on the chart image notes each redraw. "Newest point" is the redraw time minus
  the log time of the newest point it shows (poll + read + draw); "every point" is, for each
  logged point, the first redraw that shows it (adds the one-redraw-per-second-per-chart cap).
* CPU while watching an idle run: a script that sleeps 40 s; over its first 10 s of quiet
  and over 10 s after 20 s of quiet, the CPU time of the widget's thread
  (``pthread_getcpuclockid``) and of the whole process (``getrusage``), as a percent of one
  core, and how many polls the backoff made.
* Scale: a run with 100 metrics x 10,000 points (logged in this process): the first refresh
  (reads the 1,000,000 points), a refresh with one new point per metric (read + redraws within
  the 0.25 s drawing budget), a refresh with nothing new, and building the widget for the
  finished run (first paint: status, summary and log; its metrics are read and its open charts
  drawn in the background, with the longest stall of the main thread meanwhile). Each as the
  widget is (the first 12 charts open, the rest on demand) and, as the alternative, with every
  chart open: everything drawn and every changed chart redrawn, as the widget did before.

Run: ``.venv/bin/python benchmarks/bench_widget.py``. Prints tables; asserts nothing.
"""

from __future__ import annotations

import re
import resource
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

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

LINES = 100
INTERVAL_S = 0.05
IDLE_WATCH_S = 10.0
METRICS, POINTS = 100, 10_000
LOG_GOAL_S = 0.5
FIRST_CHARTS = 4  # aml_jupyter.frontends.widgets.run_details.FIRST_CHARTS

PRINTER = """
    import time
    time.sleep(0.5)
    for i in range({lines}):
        print(f"LAT {{i}} {{time.time():.6f}}", flush=True)
        time.sleep({interval})
"""

LOGGER = """
    import time
    from aml_jupyter import Run
    run = Run.get_context()
    run.log("t", time.time())  # the chart appears; the timed points follow
    time.sleep(2.0)
    for i in range({lines}):
        run.log("t", time.time())
        time.sleep({interval})
"""

SLEEPER = """
    import time
    print("sleeping", flush=True)
    time.sleep(40)
"""


def submit(ws: Any, project: Path, name: str, text: str) -> Any:
    from aml_jupyter import Experiment, ScriptRunConfig

    (project / name).write_text(textwrap.dedent(text))
    return Experiment(ws, "bench-widget").submit(ScriptRunConfig(str(project), name))


def wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the condition never came true")
        time.sleep(0.01)


def stats(values: list[float]) -> list[str]:
    return [fmt_ms(median(values)), fmt_ms(percentile(values, 95)), fmt_ms(max(values))]


def bench_log_latency(ws: Any, project: Path) -> dict:
    """print -> log_view: seconds from each print to the widget value that first holds it."""
    from aml_jupyter.frontends.widgets import RunDetails

    run = submit(ws, project, "printer.py", PRINTER.format(lines=LINES, interval=INTERVAL_S))
    details = RunDetails(run)
    seen: dict[int, float] = {}

    def on_change(change: dict) -> None:
        now = time.time()
        for match in re.finditer(r"LAT (\d+) ([\d.]+)", change["new"]):
            seen.setdefault(int(match[1]), now - float(match[2]))

    details.log_view.observe(on_change, names="value")
    details.start()
    assert details.thread is not None
    details.thread.join(60)
    return {"latencies": list(seen.values()), "count": len(seen)}


def bench_chart_latency(ws: Any, project: Path) -> dict:
    """run.log -> chart: redraw time minus the log time of the points it shows."""
    from aml_jupyter.frontends.widgets import RunDetails

    run = submit(ws, project, "logger.py", LOGGER.format(lines=LINES, interval=INTERVAL_S))
    details = RunDetails(run)
    redraws: list[tuple[float, float]] = []  # (when, log time of the newest point shown)

    def on_redraw(change: dict) -> None:
        redraws.append((time.time(), details.chart_times["t"]))

    details.start()
    wait_for(lambda: "t" in details.charts)
    details.charts["t"].observe(on_redraw, names="value")
    assert details.thread is not None
    details.thread.join(60)
    logged = [p["time"] for p in run.get_metric_history("t")][1:]  # the timed points
    newest = [when - shown for when, shown in redraws if shown >= logged[0]]
    every = []
    for at in logged:
        first = next((when for when, shown in redraws if shown >= at), None)
        if first is not None:
            every.append(first - at)
    return {"newest": newest, "every": every, "redraws": len(redraws), "points": len(logged)}


def thread_cpu(thread: threading.Thread) -> float:
    """CPU seconds used so far by ``thread`` (Linux/macOS: its own CPU clock)."""
    assert thread.ident is not None
    return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))


def process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_idle_cpu(ws: Any, project: Path) -> dict:
    """CPU used while the widget watches a run that prints nothing: over the first 10 s of
    quiet (the poll interval grows from 0.2 s) and over 10 s after 20 s of quiet (2 s)."""
    from aml_jupyter.frontends.widgets import RunDetails

    run = submit(ws, project, "sleeper.py", SLEEPER)
    details = RunDetails(run)
    polls = [0]
    refresh = details._refresh  # what the thread calls each poll

    def counted(draw_limit: int | None) -> bool:
        polls[0] += 1
        return refresh(draw_limit)

    details._refresh = counted  # type: ignore[method-assign]
    details.start()
    wait_for(lambda: "sleeping" in details.log_view.value)
    thread = details.thread
    assert thread is not None
    start = time.monotonic()
    windows = []
    for begin in (0.0, 2 * IDLE_WATCH_S):
        time.sleep(max(0.0, start + begin - time.monotonic()))
        thread0, process0, polls0 = thread_cpu(thread), process_cpu(), polls[0]
        time.sleep(IDLE_WATCH_S)
        windows.append(
            {
                "thread_s": thread_cpu(thread) - thread0,
                "process_s": process_cpu() - process0,
                "polls": polls[0] - polls0,
                "interval": details._interval,
            }
        )
    run.cancel()
    thread.join(30)
    # The process with no widget watching: what it costs anyway (baseline).
    base0 = process_cpu()
    time.sleep(IDLE_WATCH_S / 2)
    return {"windows": windows, "baseline_s": (process_cpu() - base0) * 2}


def live_cycles(details: Any, log: Any, names: list[str], out: dict[str, Any]) -> None:
    """Refresh cycles of a live widget: the first (reads every point), then 5 rounds of one
    new point per metric, each followed by a refresh with nothing new."""
    t0 = time.perf_counter()
    details.refresh()
    out["first"] = time.perf_counter() - t0
    while details._behind:  # the open charts, drawn a budget at a time as the thread would
        details.refresh()
    out["first_all_drawn"] = time.perf_counter() - t0
    new_point, redrawn, idle = [], [], []
    for round_ in range(5):
        time.sleep(1.05)  # past the one-redraw-per-second cap
        for m, name in enumerate(names):
            log(name, float(round_ + m), step=POINTS + round_)
        drawn = sum(d.version for d in details._grid.drawn.values())
        t0 = time.perf_counter()
        details.refresh()
        new_point.append(time.perf_counter() - t0)
        while details._behind:  # the other stale charts, a budget per cycle
            details.refresh()
        redrawn.append(time.perf_counter() - t0)
        out["redraws"] = sum(d.version for d in details._grid.drawn.values()) > drawn
        t0 = time.perf_counter()
        details.refresh()
        idle.append(time.perf_counter() - t0)
    out["new_point"], out["redrawn"], out["idle"] = new_point, redrawn, idle
    out["drawn"] = len(details.charts_drawn)


def main_thread_stalls(background: threading.Thread | None) -> float:
    """The longest the main thread (the kernel's) waited for a 5 ms sleep while ``background``
    read and drew: how responsive the notebook stays."""
    worst = 0.0
    while background is not None and background.is_alive():
        t0 = time.perf_counter()
        time.sleep(0.005)
        worst = max(worst, time.perf_counter() - t0 - 0.005)
    return worst


def finished_build(run: Any, open_charts: int) -> dict[str, Any]:
    """Build the widget of the finished run, show it, and wait for its background work."""
    from aml_jupyter.frontends.widgets import RunDetails

    out: dict[str, Any] = {}
    t0 = time.perf_counter()
    details = RunDetails(run, open_charts=open_charts)
    out["build"] = time.perf_counter() - t0
    out["drawn_at_build"] = len(details.charts_drawn)
    details.start()  # what show() does: the open charts follow in the background
    out["stall"] = main_thread_stalls(details.background)
    stall = main_thread_stalls(details.background)  # it may hand over to a drawing thread
    out["stall"] = max(out["stall"], stall)
    out["all_drawn"] = time.perf_counter() - t0
    out["drawn"], out["charts"] = len(details.charts_drawn), len(details.charts)
    return out


def bench_scale(ws: Any) -> dict:
    """Refresh cycles on a run with METRICS x POINTS values, live and once it has ended: as
    the widget is (the first OPEN_CHARTS charts open, the rest on demand) and with every
    chart open (how it was before: everything drawn, every changed chart redrawn)."""
    from aml_jupyter import Experiment
    from aml_jupyter.frontends.widgets import RunDetails

    run = Experiment(ws, "bench-widget-scale").start_logging(snapshot_directory=None, outputs=None)
    names = [f"metric_{m:03d}" for m in range(METRICS)]
    log = run.log
    for step in range(POINTS):
        for m, name in enumerate(names):
            log(name, (step * (m + 1)) % 997 + m, step=step)
    lazy: dict[str, Any] = {}
    eager: dict[str, Any] = {}
    live_cycles(RunDetails(run), log, names, lazy)  # active run: nothing read yet
    live_cycles(RunDetails(run, open_charts=METRICS), log, names, eager)
    run.complete()
    lazy.update({f"final_{k}": v for k, v in finished_build(run, 12).items()})
    eager.update({f"final_{k}": v for k, v in finished_build(run, METRICS).items()})
    return {"lazy": lazy, "eager": eager}


def scale_rows(scale: dict[str, Any]) -> list[list[str]]:
    lazy, eager = scale["lazy"], scale["eager"]

    def row(label: str, key: str, note: str, pick: Any = None) -> list[str]:
        pick = pick or (lambda d: fmt_ms(d[key]))
        return [label, pick(lazy), pick(eager), note]

    med = lambda key: lambda d: fmt_ms(median(d[key]))  # noqa: E731
    return [
        row("live: first refresh (reads 1,000,000 points)", "first", "draws within budget"),
        row("  until the open charts are drawn", "first_all_drawn", "budget per cycle"),
        row(
            "live: 1 new point per metric (median)",
            "",
            "0.25 s drawing budget per cycle",
            med("new_point"),
        ),
        row(
            "  until every open chart is redrawn (median)",
            "",
            "cycles back to back",
            med("redrawn"),
        ),
        row("live: nothing new (median)", "", "all charts current", med("idle")),
        row("  charts drawn", "", "", lambda d: f"{d['drawn']} of {METRICS}"),
        row("finished run: RunDetails(run) returns", "final_build", "first paint: goal <= 1 s"),
        row(
            "  charts drawn when it returns",
            "",
            f"at most {FIRST_CHARTS}",
            lambda d: str(d["final_drawn_at_build"]),
        ),
        row(
            "  until the open charts are drawn",
            "final_all_drawn",
            "in the background, after show()",
        ),
        row(
            "  longest main-thread stall meanwhile",
            "final_stall",
            "the kernel stays responsive",
        ),
        row("  charts drawn", "", "", lambda d: f"{d['final_drawn']} of {d['final_charts']}"),
    ]


def main() -> None:
    header("bench_widget", "RunDetails: live latency, idle CPU, 100 metrics x 10,000 points")
    clean_environment()
    from aml_jupyter import Workspace

    with temp_folder("widget") as folder, chdir(folder):
        ws = Workspace.create(folder)
        project = folder / "project"
        project.mkdir()
        # Import the drawing stack first, as a kernel that has shown one chart already would.
        import matplotlib.backends.backend_agg  # noqa: F401
        import PIL.Image  # noqa: F401

        log = bench_log_latency(ws, project)
        chart = bench_chart_latency(ws, project)
        idle = bench_idle_cpu(ws, project)
        scale = bench_scale(ws)

    rows = [
        [
            "print -> log view",
            f"{log['count']}/{LINES}",
            *stats(log["latencies"]),
            f"<= {LOG_GOAL_S} s",
            verdict(percentile(log["latencies"], 95), LOG_GOAL_S),
        ],
        [
            "run.log -> chart (newest point)",
            f"{chart['redraws']} redraws",
            *stats(chart["newest"]),
            f"<= {LOG_GOAL_S} s",
            verdict(percentile(chart["newest"], 95), LOG_GOAL_S),
        ],
        [
            "run.log -> chart (every point)",
            f"{len(chart['every'])}/{chart['points']}",
            *stats(chart["every"]),
            "<= ~1.5 s (1 redraw/s cap)",
            verdict(percentile(chart["every"], 95), 1.5),
        ],
    ]
    print_table(
        f"Latency ({LINES} events {INTERVAL_S * 1000:.0f} ms apart)",
        ["path", "seen", "median", "p95", "max", "goal", "met"],
        rows,
    )
    rows = []
    for label, window in zip(
        ("first 10 s of quiet", "after 20 s of quiet"), idle["windows"], strict=True
    ):
        for what, key in (("widget thread", "thread_s"), ("whole process", "process_s")):
            seconds = window[key]
            rows.append(
                [
                    label,
                    what,
                    f"{seconds:.4f}",
                    f"{100 * seconds / IDLE_WATCH_S:.3f} %",
                    window["polls"] if key == "thread_s" else "",
                ]
            )
    base = idle["baseline_s"]
    rows.append(
        ["no widget", "whole process", f"{base:.4f}", f"{100 * base / IDLE_WATCH_S:.3f} %", ""]
    )
    print_table(
        f"CPU while watching a running run that prints nothing (windows of {IDLE_WATCH_S:.0f} s)",
        ["when", "what", "CPU s", "% of one core", "polls"],
        rows,
    )
    print_table(
        f"Scale: {METRICS} metrics x {POINTS:,} points",
        ["refresh", "now: 12 charts open", "alternative: all open (before)", "note"],
        scale_rows(scale),
    )


if __name__ == "__main__":
    main()

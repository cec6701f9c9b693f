"""Looking at runs from a notebook: ``%aml_runs`` (a DataFrame), ``%aml_show`` (the live
widget), ``%aml_tensorboard``, ``%aml_logs`` (the driver log, or its live stream) and
``%aml_cancel``."""

from __future__ import annotations

import io
import sys
import time
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .common import _friendly_errors, _parse, _runs, _status_filter, _tags, _workspace

if TYPE_CHECKING:
    import pandas as pd

    from ...tracking.run import Run

#: How long ``%aml_cancel`` waits for the run to end before it reports the status it has.
CANCEL_WAIT_SECONDS = 10.0


def _follow(run: Run) -> None:
    """Print a run's driver log as it grows until the run ends (like ``tail -f``), then its
    status. Ctrl-C stops following; the run goes on."""
    out = _LineTracker()
    try:
        status = run.stream_log(out)
    except KeyboardInterrupt:
        print(
            f"\nStopped following; run {run.id} goes on ({run.get_status()}). "
            f"%aml_cancel {run.id} stops it."
        )
        return
    print(f"{'' if out.at_line_start else chr(10)}Run {run.id}: {status}")


class _LineTracker(io.TextIOBase):
    """stdout that remembers whether the last text written ended its line."""

    at_line_start = True

    def write(self, text: str) -> int:
        if text:
            self.at_line_start = text.endswith("\n")
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


@magics_class
class BrowseMagics(Magics):
    """``%aml_runs``, ``%aml_show``, ``%aml_tensorboard``, ``%aml_logs``, ``%aml_cancel``: the
    runs of a workspace, one run's details, its log; stopping it."""

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("experiment", nargs="?", metavar="EXP", help="Only this experiment's runs.")
    @argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="Only runs with this status (Running, Completed, Failed, ...; repeat or "
        "separate with commas for several).",
    )
    @argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="Only runs with this tag (KEY alone: any value). Repeat to require several.",
    )
    @argument(
        "--top",
        type=int,
        default=50,
        metavar="N",
        help="How many runs, newest first (default 50; 0 for all).",
    )
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_runs(self, line: str) -> pd.DataFrame | None:
        """Runs of the workspace as a pandas DataFrame, newest first, indexed by run id.

        Each scalar metric is a column holding its last logged value.
        """
        from ...tracking.query import runs_dataframe

        args = _parse(BrowseMagics.aml_runs, line)
        if args.top < 0:
            raise UsageError(f"--top must be 0 or more, got {args.top}")
        status = _status_filter(args.status)
        tags = _tags(args.tag)
        ws = _workspace(args.workspace)
        if args.experiment is not None:
            names = ws.store.experiment_names()
            if args.experiment not in names:
                from ...errors import AmlError

                raise AmlError(
                    f"No experiment {args.experiment!r} in workspace {ws.name}; it has: "
                    + (", ".join(sorted(names)) or "no experiments yet")
                    + "."
                )
        return runs_dataframe(ws, args.experiment, status=status, tags=tags, top=args.top or None)

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("run_id", nargs="?", metavar="RUN", help="Run id or its start (default: newest).")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_show(self, line: str) -> Any:
        """Show the live RunDetails widget of any run (running or finished) and return it.

        Status, duration, the driver log tail, a chart per metric, tables, images, child
        runs, files and errors; it follows a running run until it ends.
        """
        from ..widgets import RunDetails

        args = _parse(BrowseMagics.aml_show, line)
        (run,) = _runs(
            _workspace(args.workspace, create=False), [args.run_id] if args.run_id else []
        )
        return RunDetails(run)

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("run_ids", nargs="*", metavar="RUN", help="Runs to show (default: the newest).")
    @argument("--port", type=int, default=6006, help="First port to try (default 6006).")
    @argument(
        "--display-name",
        action="store_true",
        help="Name each run in TensorBoard by its display name instead of its id.",
    )
    @argument("--stop", action="store_true", help="Stop the TensorBoard serving these runs.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_tensorboard(self, line: str) -> Any:
        """TensorBoard over the runs' ./logs, shown inline; returns the Tensorboard object.

        Live while a run is writing. An instance already serving the same runs is reused.
        Under a Jupyter server it is reached through jupyter-server-proxy (Jupyter's own
        port), so it works on a remote workstation too. --stop stops it.
        """
        from ..tensorboard import Tensorboard

        args = _parse(BrowseMagics.aml_tensorboard, line)
        runs = _runs(_workspace(args.workspace, create=False), args.run_ids)
        board = Tensorboard(runs, port=args.port, use_display_name=args.display_name)
        if args.stop:
            board.stop()
            print(f"Stopped TensorBoard for {', '.join(r.id for r in runs)}")
            return None
        board.start()
        return board

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("run_id", metavar="RUN", help="Run id, or the start of one.")
    @argument(
        "-f",
        "--follow",
        action="store_true",
        help="Keep printing the log as it grows until the run ends, then print its status. "
        "Interrupting (Ctrl-C, or the stop button) stops following, not the run.",
    )
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_logs(self, line: str) -> None:
        """Print a run's driver log (what its script wrote to stdout and stderr)."""
        args = _parse(BrowseMagics.aml_logs, line)
        run = _workspace(args.workspace, create=False).get_run(args.run_id)
        if args.follow:
            _follow(run)
            return
        text = run.read_log()
        if text:
            sys.stdout.write(text if text.endswith("\n") else text + "\n")
        else:
            print(f"Run {run.id} has no log yet ({run.get_status()}).")

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("run_id", metavar="RUN", help="Run id, or the start of one.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_cancel(self, line: str) -> Run | None:
        """Cancel a run: its processes are stopped and it ends Canceled. Returns the Run.

        Waits a few seconds for the run to end and prints the status it reached.
        """
        from ...status import RunStatus

        args = _parse(BrowseMagics.aml_cancel, line)
        run = _workspace(args.workspace, create=False).get_run(args.run_id)
        status = run.get_status()
        if status in RunStatus.TERMINAL:
            print(f"Run {run.id} had already ended: {status}")
            return run
        run.cancel()
        deadline = time.monotonic() + CANCEL_WAIT_SECONDS
        try:
            while (status := run.get_status()) not in RunStatus.TERMINAL:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.05)
        except KeyboardInterrupt:
            status = run.get_status()
        print(f"Run {run.id}: {status}")
        return run

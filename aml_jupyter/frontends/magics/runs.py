"""The ``%aml_*`` IPython magics: submit scripts and notebook cells as tracked runs.

``%load_ext aml_jupyter`` registers them:

* ``%aml_workspace``: the workspace the other magics use (``./.aml`` is made if none is found);
* ``%aml_submit FILE_OR_FOLDER -- ARGS`` and ``%%aml_submit`` (the cell becomes the script;
  ``--inputs``/``--outputs`` carry notebook variables into the run and back);
* ``%aml_runs [EXP]``: runs as a pandas DataFrame, metrics as columns;
* ``%aml_logs RUN [--follow]``: a run's driver log, or its live stream;
* ``%aml_cancel RUN``: stop a run;
* ``%aml_compute`` and ``%aml_env``: the compute targets and environments runs can use;
* ``%aml_register`` and ``%aml_models`` (in :mod:`aml_jupyter.frontends.magics.models`): the model registry.

Each magic documents its options (``%aml_submit?``). Mistakes (a missing script, an unknown run
id, a bad option) print one ``aml: ...`` line to stderr and return None, never a traceback.
Nothing is cached between calls: each magic finds its workspace afresh, so a ``cd`` or a new
``AML_WORKSPACE`` takes effect at once. Only IPython and the standard library are imported
here; the rest of aml_jupyter (and pandas) load when a magic first needs them.
"""

from __future__ import annotations

import functools
import io
import os
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, real_name

if TYPE_CHECKING:
    import pandas as pd

    from ...tracking.run import Run
    from ...tracking.workspace import Workspace

#: Experiment of ``%%aml_submit`` runs when ``-e`` is not given.
CELL_EXPERIMENT = "notebook"
#: File name a submitted cell gets in its run's snapshot (a free variant if the folder has it).
CELL_SCRIPT = "aml_notebook_cell.py"
#: How long ``%aml_cancel`` waits for the run to end before it reports the status it has.
CANCEL_WAIT_SECONDS = 10.0


# helpers ------------------------------------------------------------------------------------
def _friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn a user error into one ``aml: ...`` line on stderr and a None result.

    User errors are :class:`aml_jupyter.AmlError` and IPython's ``UsageError`` (bad options).
    Anything else is a bug and keeps its traceback.
    """
    name = real_name(func)

    @functools.wraps(func)
    def wrapper(self: Magics, *args: Any) -> Any:
        from ...errors import AmlError

        try:
            return func(self, *args)
        except UsageError as exc:
            print(f"aml: %{name}: {exc} (%{name}? lists the options)", file=sys.stderr)
        except AmlError as exc:
            print(f"aml: {exc}", file=sys.stderr)
        return None

    return wrapper


def _split_line(line: str) -> tuple[list[str], list[str]]:
    """Split a magic's line into its own tokens and the script's (everything after ``--``).

    Quotes work as in a POSIX shell: ``--name "first try"`` is one token, without its quotes.
    """
    try:
        tokens = shlex.split(line, posix=os.name != "nt")
    except ValueError as exc:  # an unbalanced quote
        raise UsageError(f"cannot split the line: {exc}") from None
    if "--" in tokens:
        cut = tokens.index("--")
        return tokens[:cut], tokens[cut + 1 :]
    return tokens, []


def _parse(func: Callable[..., Any], line: str) -> Any:
    """Parse ``line`` with the ``magic_arguments`` parser of ``func``; ``.script_args`` gets
    whatever follows ``--``."""
    own, script_args = _split_line(line)
    args = func.parser.parse_args(own)  # type: ignore[attr-defined]
    if not hasattr(args, "script_args"):
        if script_args:
            raise UsageError(f"unexpected -- {' '.join(script_args)}")
        return args
    if args.script_args:
        raise UsageError(
            f"unexpected {' '.join(args.script_args)!r}: put the script's arguments after --, "
            "e.g. %aml_submit train.py -- --lr 0.1"
        )
    args.script_args = script_args
    return args


def _tags(items: list[str] | None) -> dict[str, str | None] | None:
    """``['k=v', 'flag']`` -> ``{'k': 'v', 'flag': None}`` (None for no --tag at all)."""
    from ...tracking.query import parse_tag

    return dict(parse_tag(item) for item in items) if items else None


def _workspace(path: str | None, create: bool = True) -> Workspace:
    """The workspace at ``path`` (default: found from here); with ``create``, a new ``./.aml``
    when there is none, announced in one line."""
    from ...tracking.workspace import Workspace

    if not create:
        return Workspace.from_config(path)
    ws, created = Workspace.from_config_or_create(path)
    if created:
        print(f"Created a new workspace in {ws.folder}")
    return ws


def _free_name(source: Path, wanted: str = CELL_SCRIPT) -> str:
    """``wanted``, or a numbered variant of it that no file in ``source`` has (so a file the
    magic adds to the snapshot never shadows one of the folder's)."""
    stem, suffix = os.path.splitext(wanted)
    name, n = wanted, 1
    while os.path.lexists(source / name):
        n += 1
        name = f"{stem}_{n}{suffix}"
    return name


def _status_filter(values: list[str] | None) -> list[str] | None:
    """Status names from ``--status`` (repeatable, comma-separated, any case), checked."""
    from ...status import RunStatus

    parts = [p for value in values or [] for p in value.split(",") if p.strip()]
    return [RunStatus.parse(p) for p in parts] or None


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


def _widgets_render(shell: Any) -> bool:
    """Whether a widget shown here reaches a front end that renders it (a Jupyter kernel);
    a terminal IPython gets text instead."""
    return type(shell).__name__ == "ZMQInteractiveShell"


def _runs(ws: Workspace, ids: list[str]) -> list[Run]:
    """Runs by id (or prefix); with none given, the newest run of the workspace."""
    from ...errors import AmlError

    if ids:
        return [ws.get_run(run_id) for run_id in ids]
    newest = ws.store.list_runs(limit=1)
    if not newest:
        raise AmlError("This workspace has no runs yet; submit one with %aml_submit.")
    return [ws.get_run(newest[0].id)]


# the magics ---------------------------------------------------------------------------------
@magics_class
class AmlMagics(Magics):
    """``%aml_workspace``, ``%aml_submit``/``%%aml_submit``, ``%aml_runs``, ``%aml_logs``,
    ``%aml_cancel``, ``%aml_compute``, ``%aml_env``: Azure ML v1 style runs from a notebook,
    recorded in a local workspace."""

    @property
    def _user_ns(self) -> dict[str, Any]:
        """The notebook's variables (what --inputs reads and --outputs sets)."""
        assert self.shell is not None, "the magics are registered with a shell"
        return self.shell.user_ns

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument(
        "-w",
        "--workspace",
        metavar="PATH",
        help="Folder to look in (and its parents) instead of the current folder.",
    )
    def aml_workspace(self, line: str) -> Workspace:
        """Show the workspace the %aml_* magics use and return it.

        The workspace is the .aml folder found here or in a parent folder ($AML_WORKSPACE
        overrides the search); when there is none, a new one is made in ./.aml.
        """
        args = _parse(AmlMagics.aml_workspace, line)
        ws = _workspace(args.workspace)
        print(f"Workspace {ws.name} in {ws.folder}")
        return ws

    @line_cell_magic
    @_friendly_errors
    @magic_arguments()
    @argument(
        "-e",
        "--experiment",
        metavar="NAME",
        help="Experiment to record the run in. Default: the script folder's name for "
        f"%%aml_submit FILE, '{CELL_EXPERIMENT}' for a cell.",
    )
    @argument(
        "-t",
        "--target",
        default="local",
        metavar="TARGET",
        help="Compute target to run on (default: local).",
    )
    @argument(
        "-d",
        "--dir",
        metavar="DIR",
        help="Source folder: snapshotted and used as the run's working folder. Default: the "
        "script's folder for a file, the current folder for a cell.",
    )
    @argument("--name", metavar="NAME", help="Display name of the run.")
    @argument(
        "--tag",
        action="append",
        metavar="KEY=VALUE",
        help="Tag the run (repeat for several tags; KEY alone sets a tag with no value).",
    )
    @argument(
        "--wait",
        action="store_true",
        help="Wait for the run to end (the widget, or the streamed log, shows it), then print "
        "its final status.",
    )
    @argument(
        "--env",
        metavar="NAME[:VERSION]",
        help="Run in a registered environment (built once into a cached virtualenv with uv); "
        "default: this kernel's Python.",
    )
    @argument(
        "--nodes",
        type=int,
        metavar="N",
        help="Distributed job: number of nodes (on the local target, all are this machine).",
    )
    @argument(
        "--procs",
        type=int,
        metavar="P",
        help="Distributed job: processes per node; each gets RANK, WORLD_SIZE, LOCAL_RANK, "
        "MASTER_ADDR, MASTER_PORT (and OMPI_COMM_WORLD_*) and its own log.",
    )
    @argument(
        "--backend",
        metavar="B",
        help="Distributed job: nccl or gloo (a PyTorchConfiguration, the default: gloo) or "
        "mpi (an MpiConfiguration).",
    )
    @argument(
        "--no-widget",
        action="store_true",
        help="Do not show the live RunDetails widget (shown by default in a Jupyter kernel); "
        "with --wait the log is streamed as text instead.",
    )
    @argument(
        "--inputs",
        action="append",
        metavar="NAMES",
        help="%%%%aml_submit only: notebook variables the cell gets, separated by commas "
        "(e.g. df,model). They are pickled with cloudpickle (so functions and classes "
        "defined in the notebook work too; at most 200 MB) and kept in the run's snapshot.",
    )
    @argument(
        "--outputs",
        action="append",
        metavar="NAMES",
        help="%%%%aml_submit only: variables of the cell that come back into the notebook "
        "when the run completes, separated by commas. With --wait they are set before the "
        "magic returns; without it a background thread sets them once the run completes and "
        "prints a line saying so (until then they keep their old values). A name the cell "
        "does not define fails the run.",
    )
    @argument(
        "-w",
        "--workspace",
        metavar="PATH",
        help="Folder of the workspace to use (default: found from the current folder).",
    )
    @argument(
        "path",
        nargs="?",
        metavar="FILE_OR_FOLDER",
        help="Script to run, or a folder (its train.py, main.py, run.py or __main__.py). "
        "Not used by %%%%aml_submit, where the cell is the script.",
    )
    @argument(
        "script_args",
        nargs="*",
        metavar="-- ARGS",
        help="Arguments for the script: everything after a lone --.",
    )
    def aml_submit(self, line: str, cell: str | None = None) -> Run | None:
        """Submit a script, a folder or this cell as a tracked run; return the Run.

        %aml_submit train.py -- --lr 0.1 runs a script file (or a folder's entry script).
        %%aml_submit runs the cell's code as a Python script: the current folder (or -d DIR)
        is snapshotted with the cell added to it, so the cell can import the folder's modules
        and read its files. The run goes on without the notebook unless --wait is given.

        %%aml_submit --inputs df,model --outputs result runs the cell as if it ran here: df
        and model are defined in it, and result comes back into the notebook when the run
        completes (see aml_jupyter.frontends.magics.notebook_vars).
        """
        from ...compute.config import ScriptRunConfig
        from ...tracking.experiment import Experiment
        from ..submit import distributed_config, submit_path

        args = _parse(AmlMagics.aml_submit, line)
        tags = _tags(args.tag)
        distributed = distributed_config(args.nodes, args.procs, args.backend)
        outputs: list[str] = []
        if cell is None:
            if not args.path:
                raise UsageError(
                    "give a script or folder to submit (%aml_submit train.py), "
                    "or use %%aml_submit to submit a cell"
                )
            if args.inputs or args.outputs:
                raise UsageError(
                    "--inputs and --outputs pass notebook variables to a cell: use them with "
                    "%%aml_submit"
                )
            ws = _workspace(args.workspace)
            run = submit_path(
                ws,
                args.path,
                arguments=args.script_args,
                experiment=args.experiment,
                source_directory=args.dir,
                target=args.target,
                tags=tags,
                display_name=args.name,
                distributed=distributed,
                environment=args.env,
            )
        else:
            if args.path:
                raise UsageError(
                    f"%%aml_submit runs the cell; got {args.path!r} too (put script arguments "
                    "after --, or use %aml_submit FILE to submit a file)"
                )
            if not cell.strip():
                raise UsageError("the cell is empty: nothing to run")
            source = Path(args.dir or os.getcwd()).expanduser()
            if not source.is_dir():
                raise UsageError(f"-d {args.dir!r} is not a folder")
            files: dict[str, bytes] = {}
            code = cell
            if args.inputs or args.outputs:
                from . import notebook_vars

                inputs = notebook_vars.parse_names(args.inputs, "--inputs")
                outputs = notebook_vars.parse_names(args.outputs, "--outputs")
                inputs_file = _free_name(source, notebook_vars.INPUTS_FILE)
                if inputs:  # before the workspace and the run: a bad input leaves nothing
                    files[inputs_file] = notebook_vars.pack_inputs(inputs, self._user_ns)
                code = notebook_vars.cell_script(cell, bool(inputs), outputs, inputs_file)
            ws = _workspace(args.workspace)
            script = _free_name(source, CELL_SCRIPT)
            config = ScriptRunConfig(
                source_directory=source,
                script=script,
                arguments=args.script_args,
                compute_target=args.target,
                distributed_job_config=distributed,
                environment=args.env,
            )
            config.extra_files = {script: code.encode("utf-8"), **files}
            run = Experiment(ws, args.experiment or CELL_EXPERIMENT).submit(config, tags=tags)
            if args.name:
                run.display_name = args.name
        print(f"Submitted run {run.id} to {args.target} (experiment {run.experiment.name})")
        details = None
        if not args.no_widget and _widgets_render(self.shell):
            from ..widgets import RunDetails

            details = RunDetails(run)
            details.show()
        if args.wait:
            try:
                run.wait_for_completion(show_output=details is None, raise_on_error=False)
                if details is not None:
                    details.refresh()  # the cell ends showing the final state, not a poll behind
            except KeyboardInterrupt:
                print(
                    f"\nStopped waiting; run {run.id} goes on ({run.get_status()}). "
                    f"%aml_cancel {run.id} stops it."
                )
                if outputs:
                    self._set_outputs_later(run, outputs)
                return run
            status = run.get_status()
            print(f"Run {run.id}: {status}")
            if outputs:
                self._set_outputs_now(run, status, outputs)
        elif outputs:
            self._set_outputs_later(run, outputs)
        return run

    def _set_outputs_now(self, run: Run, status: str, outputs: list[str]) -> None:
        """Put an ended run's ``--outputs`` into the notebook; one line says which (or why
        not: the run's error was just shown)."""
        from ...errors import AmlError
        from ...status import RunStatus
        from .notebook_vars import set_outputs

        if status != RunStatus.COMPLETED:
            print(
                f"aml: {', '.join(outputs)} not set: run {run.id} ended {status}", file=sys.stderr
            )
            return
        try:
            names = set_outputs(run, self._user_ns)
        except AmlError as exc:  # e.g. a value that cannot be unpickled here: the Run is kept
            print(f"aml: {exc}", file=sys.stderr)
            return
        print(f"Set {', '.join(names)} from run {run.id}")

    def _set_outputs_later(self, run: Run, outputs: list[str]) -> None:
        """A background thread puts the ``--outputs`` into the notebook when the run ends."""
        from .notebook_vars import set_outputs_when_done

        def done(names: list[str]) -> None:
            print(f"Set {', '.join(names)} from run {run.id}", flush=True)

        def failed(message: str) -> None:
            print(f"aml: {message}", file=sys.stderr, flush=True)

        set_outputs_when_done(run, self._user_ns, on_set=done, on_error=failed)
        print(f"{', '.join(outputs)} will be set here when run {run.id} completes.")

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

        args = _parse(AmlMagics.aml_runs, line)
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

        args = _parse(AmlMagics.aml_show, line)
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

        args = _parse(AmlMagics.aml_tensorboard, line)
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
        args = _parse(AmlMagics.aml_logs, line)
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

        args = _parse(AmlMagics.aml_cancel, line)
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

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_compute(self, line: str) -> pd.DataFrame | None:
        """The workspace's compute targets as a DataFrame indexed by name: type, address, status.

        Use a name with %aml_submit -t NAME. Every workspace has 'local' (this machine); add a
        workstation agent or a Ray cluster with ComputeInstance.attach / ComputeCluster.attach
        (or `aml compute attach`).
        """
        import pandas as pd

        args = _parse(AmlMagics.aml_compute, line)
        targets = _workspace(args.workspace).compute_targets
        rows = [
            {
                "name": n,
                "type": t.type,
                "address": t.config.get("address"),
                "status": t.get_status(),
            }
            for n, t in targets.items()
        ]
        return pd.DataFrame(rows, columns=["name", "type", "address", "status"]).set_index("name")

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_env(self, line: str) -> pd.DataFrame | None:
        """The environments runs can use, as a DataFrame indexed by name.

        'default' is this kernel's Python, sys.executable (runs submitted without --env use
        it); the others
        are the workspace's registered environments (latest versions): managed ones are built
        once with uv into a cached virtualenv (``built`` says whether that happened yet).
        """
        import platform

        import pandas as pd

        from ...environments.environment import environment_rows

        args = _parse(AmlMagics.aml_env, line)
        rows = [
            {
                "name": "default",
                "version": None,
                "kind": f"this kernel (Python {platform.python_version()})",
                "python": sys.executable,
                "packages": None,
                "hash": None,
                "built": True,
            }
        ]
        rows += environment_rows(_workspace(args.workspace))
        return pd.DataFrame(rows).set_index("name")

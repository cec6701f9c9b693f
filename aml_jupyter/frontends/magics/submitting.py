"""``%aml_submit`` and ``%%aml_submit``: submit a script, a folder or a notebook cell as a
tracked run, and carry ``--inputs``/``--outputs`` notebook variables into the run and back."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .common import _friendly_errors, _parse, _tags, _widgets_render, _workspace

if TYPE_CHECKING:
    from ...tracking.run import Run

#: Experiment of ``%%aml_submit`` runs when ``-e`` is not given.
CELL_EXPERIMENT = "notebook"
#: File name a submitted cell gets in its run's snapshot (a free variant if the folder has it).
CELL_SCRIPT = "aml_notebook_cell.py"


def _free_name(source: Path, wanted: str = CELL_SCRIPT) -> str:
    """``wanted``, or a numbered variant of it that no file in ``source`` has (so a file the
    magic adds to the snapshot never shadows one of the folder's)."""
    stem, suffix = os.path.splitext(wanted)
    name, n = wanted, 1
    while os.path.lexists(source / name):
        n += 1
        name = f"{stem}_{n}{suffix}"
    return name


@magics_class
class SubmitMagics(Magics):
    """``%aml_submit`` and ``%%aml_submit``: runs from a notebook's scripts and cells."""

    @property
    def _user_ns(self) -> dict[str, Any]:
        """The notebook's variables (what --inputs reads and --outputs sets)."""
        assert self.shell is not None, "the magics are registered with a shell"
        return self.shell.user_ns

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

        args = _parse(SubmitMagics.aml_submit, line)
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
            _no_summary_in_this_cell(self.shell, run)
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


def _no_summary_in_this_cell(shell: Any, run: Run) -> None:
    """The live widget is this cell's view of the run: its one-row summary (``Out[n]``,
    rendered once, "Queued" under a widget that says Completed) is left out. In a later cell
    the run shows its summary as ever."""
    cell = shell.execution_count

    def display() -> None:
        if shell.execution_count != cell:
            del run._ipython_display_  # type: ignore[attr-defined]
            from IPython.display import display as show

            show(run)

    run._ipython_display_ = display  # type: ignore[attr-defined]

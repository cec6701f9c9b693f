"""Notebook variables into a submitted cell and back: ``%%aml_submit --inputs df --outputs result``.

A cell submitted as a run executes in its own process, so it cannot see the notebook's
variables, and what it computes stays there. This module carries both ways, so the cell runs
as if it ran in the notebook:

* :func:`pack_inputs` pickles named notebook variables with ``cloudpickle`` (DataFrames and
  models, and also functions and classes defined in the notebook, which plain ``pickle`` cannot
  carry). The bytes go into the run's snapshot as :data:`INPUTS_FILE`, so they are kept with
  the run and a re-run gets the same inputs.
* :func:`cell_script` wraps the cell: one first line loads the inputs into the script's
  globals (so a traceback's line numbers are the cell's plus one), and a last block pickles
  the variables named by ``--outputs`` into :data:`OUTPUTS_FILE` under the run's
  ``./outputs``. A name the cell did not define fails the run with a ``NameError`` naming it.
* :func:`load_outputs` reads them back from a completed run; :func:`set_outputs_when_done`
  does it from a background thread once the run completes.

Everything a user can get wrong (an undefined or unpicklable input, inputs over
:data:`MAX_INPUT_BYTES`, a run that did not complete) raises :class:`AmlError` with what to do,
before any run is created where that is possible. ``cloudpickle`` is imported only when used.
"""

from __future__ import annotations

import ast
import keyword
import os
import pickle
import threading
from collections.abc import Callable, Iterable, Mapping, MutableMapping, Sequence
from typing import TYPE_CHECKING, Any

from ...errors import AmlError

if TYPE_CHECKING:
    from ...tracking.run import Run

#: Snapshot file holding the pickled inputs (a free variant when the source folder has one).
INPUTS_FILE = "aml_notebook_inputs.pkl"
#: Run file holding the pickled outputs (under ``./outputs``, so it is kept with the run).
OUTPUTS_FILE = "outputs/aml_notebook_outputs.pkl"
#: Largest pickled inputs accepted: bigger data belongs in a file the run reads.
MAX_INPUT_BYTES = 200 * 1024 * 1024
#: Environment variable that overrides :data:`MAX_INPUT_BYTES` (a number of bytes).
MAX_INPUT_BYTES_ENV = "AML_NOTEBOOK_INPUTS_MAX_BYTES"


class _TooBig(Exception):
    """Raised by :class:`_CappedBuffer` when a pickle outgrows its limit."""


class _CappedBuffer:
    """A write-only sink that keeps (``keep=True``) or counts bytes, up to ``limit``.

    Pickling into it stops as soon as the limit is passed, so a 5 GB DataFrame is refused
    after 200 MB of work and memory, not after a 5 GB copy.
    """

    def __init__(self, limit: int, keep: bool = True) -> None:
        self.limit = limit
        self.size = 0
        self.parts: list[bytes] | None = [] if keep else None

    def write(self, data: Any) -> int:
        n = memoryview(data).nbytes
        self.size += n
        if self.size > self.limit:
            raise _TooBig
        if self.parts is not None:
            self.parts.append(bytes(data))
        return n

    def getvalue(self) -> bytes:
        return b"".join(self.parts or [])


def max_input_bytes() -> int:
    """The inputs limit in bytes: ``$AML_NOTEBOOK_INPUTS_MAX_BYTES`` or :data:`MAX_INPUT_BYTES`."""
    raw = os.environ.get(MAX_INPUT_BYTES_ENV, "").strip()
    if not raw:
        return MAX_INPUT_BYTES
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value <= 0:
        raise AmlError(f"{MAX_INPUT_BYTES_ENV}={raw!r} is not a positive number of bytes.")
    return value


def _mb(size: int) -> str:
    """``1.5 MB``, or ``0.1 kB`` for small sizes."""
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


def parse_names(values: str | Iterable[str] | None, option: str = "--inputs") -> list[str]:
    """Variable names from ``'df,model'`` (or several such strings), in order, each once.

    Raises :class:`AmlError` for anything that is not a Python variable name; ``option``
    names the option in the message.
    """
    if values is None:
        return []
    items = [values] if isinstance(values, str) else list(values)
    names: list[str] = []
    for item in items:
        for part in item.split(","):
            name = part.strip()
            if not name:
                continue
            if not name.isidentifier() or keyword.iskeyword(name):
                raise AmlError(
                    f"{option} {name!r} is not a variable name; give names separated by "
                    "commas, e.g. --inputs df,model."
                )
            if name not in names:
                names.append(name)
    return names


def _dump(value: Any, sink: _CappedBuffer) -> None:
    import cloudpickle

    cloudpickle.dump(value, sink, protocol=pickle.HIGHEST_PROTOCOL)


def pack_inputs(
    names: Sequence[str], namespace: Mapping[str, Any], max_bytes: int | None = None
) -> bytes:
    """Pickle ``{name: namespace[name]}`` with cloudpickle, for a run's snapshot.

    Raises :class:`AmlError` naming every undefined variable, the first one that cannot be
    pickled, or the sizes when the pickle is over ``max_bytes`` (default
    :func:`max_input_bytes`). Nothing is written anywhere.
    """
    limit = max_input_bytes() if max_bytes is None else max_bytes
    missing = [n for n in names if n not in namespace]
    if missing:
        listed = ", ".join(repr(n) for n in missing)
        raise AmlError(
            f"--inputs: no variable {listed} in the notebook (define it, or run the cell that "
            "does, before submitting)."
            if len(missing) == 1
            else f"--inputs: no variables {listed} in the notebook (define them, or run the "
            "cells that do, before submitting)."
        )
    values = {n: namespace[n] for n in names}
    sink = _CappedBuffer(limit)
    try:
        _dump(values, sink)
    except _TooBig:
        raise AmlError(_too_big_message(values, limit)) from None
    except Exception as exc:
        raise AmlError(_unpicklable_message(values, exc)) from None
    return sink.getvalue()


def _too_big_message(values: Mapping[str, Any], limit: int) -> str:
    sizes = []
    for name, value in values.items():
        counter = _CappedBuffer(limit, keep=False)
        try:
            _dump(value, counter)
            sizes.append(f"{name}: {_mb(counter.size)}")
        except _TooBig:
            sizes.append(f"{name}: over {_mb(limit)}")
        except Exception:  # reported by the pickling error path if it matters
            sizes.append(f"{name}: ?")
    return (
        f"--inputs: the variables pickle to more than {_mb(limit)}, the limit ("
        + "; ".join(sizes)
        + "). Save big data to a file in the source folder and read it in the cell, or raise "
        f"the limit with {MAX_INPUT_BYTES_ENV} (bytes)."
    )


def _unpicklable_message(values: Mapping[str, Any], exc: Exception) -> str:
    """Which variable failed to pickle (each is tried alone), and why."""
    culprit, error = None, exc
    for name, value in values.items():
        try:
            _dump(value, _CappedBuffer(2**62, keep=False))
        except Exception as each:
            culprit, error = name, each
            break
    what = (
        f"variable {culprit!r} ({type(values[culprit]).__name__})"
        if culprit is not None
        else "the variables"
    )
    reason = f"{type(error).__name__}: {error}".splitlines()[0]
    return (
        f"--inputs: cannot pass {what} to a run: it cannot be pickled ({reason}). Pass the "
        "data it holds instead, or create it inside the cell."
    )


def _future_imports_end(cell: str) -> int:
    """The last line of the cell's leading ``from __future__`` imports (0 when none).

    Those must stay first in a module, so the inputs line goes after them.
    """
    try:
        body = ast.parse(cell).body
    except SyntaxError:  # the run reports it, with the cell's own line numbers
        return 0
    end = 0
    for i, node in enumerate(body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # a docstring may come first
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            end = node.end_lineno or node.lineno
            continue
        break
    return end


def cell_script(
    cell: str, inputs: bool, outputs: Sequence[str], inputs_file: str = INPUTS_FILE
) -> str:
    """The script a run executes for ``cell``: load inputs, the cell, save outputs.

    With ``inputs``, one line (after any ``from __future__`` imports) puts the variables
    pickled in ``inputs_file`` (next to the script) into the script's globals. With
    ``outputs``, a last block pickles those variables into :data:`OUTPUTS_FILE`; one the
    cell did not define fails the run with a ``NameError`` naming it.
    """
    lines = cell.splitlines(keepends=True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n"
    if inputs:
        at = _future_imports_end(cell)
        prologue = (
            "from aml_jupyter.frontends.magics.notebook_vars import load_inputs as _aml_load; "
            f"globals().update(_aml_load(__file__, {inputs_file!r})); del _aml_load"
            "  # --inputs\n"
        )
        lines.insert(at, prologue)
    if outputs:
        lines.append(
            "\n# --outputs: variables that go back to the notebook (aml_jupyter)\n"
            "from aml_jupyter.frontends.magics.notebook_vars import save_outputs as _aml_save\n"
            f"_aml_save(globals(), {list(outputs)!r}, __file__)\n"
        )
    return "".join(lines)


def load_inputs(script_file: str, inputs_file: str = INPUTS_FILE) -> dict[str, Any]:
    """In a run: the variables pickled in ``inputs_file``, next to ``script_file``."""
    path = os.path.join(os.path.dirname(os.path.abspath(script_file)), inputs_file)
    with open(path, "rb") as f:
        values: dict[str, Any] = pickle.load(f)
    return values


def save_outputs(namespace: Mapping[str, Any], names: Sequence[str], script_file: str) -> str:
    """In a run: pickle ``names`` of ``namespace`` into :data:`OUTPUTS_FILE`; returns its path.

    Raises ``NameError`` naming the variables the cell did not define, ``TypeError`` naming
    one that cannot be pickled: either fails the run with that line as its error.
    """
    missing = [n for n in names if n not in namespace]
    if missing:
        raise NameError(
            "--outputs "
            + ", ".join(missing)
            + ": the cell did not define "
            + ("this variable" if len(missing) == 1 else "these variables")
        )
    values = {n: namespace[n] for n in names}
    sink = _CappedBuffer(2**62)
    try:
        _dump(values, sink)
    except Exception as exc:
        culprit = next((n for n in names if not _picklable(values[n])), None)
        what = culprit if culprit is not None else ", ".join(names)
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise TypeError(f"--outputs {what}: cannot be pickled ({reason})") from None
    folder = os.path.dirname(os.path.abspath(script_file))
    path = os.path.join(folder, *OUTPUTS_FILE.split("/"))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(sink.getvalue())
    return path


def _picklable(value: Any) -> bool:
    try:
        _dump(value, _CappedBuffer(2**62, keep=False))
    except Exception:
        return False
    return True


def load_outputs(run: Run) -> dict[str, Any]:
    """The variables a completed run sent back (``%%aml_submit --outputs``), by name.

    Raises :class:`AmlError` when the run has not completed (with its error if it failed),
    has no outputs file, or its values cannot be unpickled here.
    """
    import tempfile
    from pathlib import Path

    from ...status import RunStatus

    status = run.get_status()
    if status != RunStatus.COMPLETED:
        if status not in RunStatus.TERMINAL:
            raise AmlError(
                f"Run {run.id} is {status}: its outputs come back when it completes "
                "(run.wait_for_completion() waits for it)."
            )
        error = run.get_details().get("error", {}).get("error", {}).get("message")
        raise AmlError(
            f"Run {run.id} ended {status}" + (f" ({error})" if error else "") + ", so it has "
            "no outputs for the notebook."
        )
    if OUTPUTS_FILE not in run.get_file_names():
        raise AmlError(
            f"Run {run.id} has no {OUTPUTS_FILE}: only a cell submitted with "
            "%%aml_submit --outputs NAMES sends variables back."
        )
    with tempfile.TemporaryDirectory() as tmp:
        path = run.download_file(OUTPUTS_FILE, Path(tmp) / "outputs.pkl")
        data = Path(path).read_bytes()
    try:
        values = pickle.loads(data)
    except Exception as exc:
        raise AmlError(
            f"The outputs of run {run.id} cannot be loaded here ({type(exc).__name__}: {exc})."
        ) from None
    if not isinstance(values, dict):
        raise AmlError(f"{OUTPUTS_FILE} of run {run.id} does not hold variables by name.")
    return values


def set_outputs(run: Run, namespace: MutableMapping[str, Any]) -> list[str]:
    """Put a completed run's outputs into ``namespace`` (a notebook's); returns their names."""
    values = load_outputs(run)
    namespace.update(values)
    return list(values)


def set_outputs_when_done(
    run: Run,
    namespace: MutableMapping[str, Any],
    on_set: Callable[[list[str]], None] | None = None,
    on_error: Callable[[str], None] | None = None,
) -> threading.Thread:
    """Start a daemon thread that waits for ``run`` to end, then sets its outputs.

    ``on_set(names)`` is called once they are in ``namespace``; ``on_error(message)`` when
    they cannot be (the run failed or was canceled, the workspace went away). Until then
    the names keep their old values, or stay undefined. Returns the (started) thread.
    """

    def wait_and_set() -> None:
        try:
            run.wait_for_completion(raise_on_error=False)
            names = set_outputs(run, namespace)
        except AmlError as exc:
            if on_error is not None:
                on_error(str(exc))
            return
        except Exception as exc:  # a background thread has nobody else to tell
            if on_error is not None:
                on_error(f"Could not set the outputs of run {run.id}: {type(exc).__name__}: {exc}")
            return
        if on_set is not None:
            on_set(names)

    thread = threading.Thread(target=wait_and_set, name=f"aml-outputs-{run.id}", daemon=True)
    thread.start()
    return thread

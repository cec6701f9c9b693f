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

This module puts :class:`AmlMagics` together from its parts, one module an idea:
:mod:`.workspace` (``%aml_workspace``, ``%aml_compute``, ``%aml_env``), :mod:`.submitting`
(``%aml_submit``, ``%%aml_submit``) and :mod:`.browsing` (``%aml_runs``, ``%aml_show``,
``%aml_tensorboard``, ``%aml_logs``, ``%aml_cancel``), over the helpers in :mod:`.common`.
"""

from __future__ import annotations

from .browsing import CANCEL_WAIT_SECONDS, BrowseMagics
from .common import magics_of_parts
from .submitting import CELL_EXPERIMENT, CELL_SCRIPT, SubmitMagics
from .workspace import WorkspaceMagics

__all__ = ["CANCEL_WAIT_SECONDS", "CELL_EXPERIMENT", "CELL_SCRIPT", "AmlMagics"]


@magics_of_parts
class AmlMagics(WorkspaceMagics, SubmitMagics, BrowseMagics):
    """``%aml_workspace``, ``%aml_submit``/``%%aml_submit``, ``%aml_runs``, ``%aml_logs``,
    ``%aml_cancel``, ``%aml_compute``, ``%aml_env``: Azure ML v1 style runs from a notebook,
    recorded in a local workspace."""

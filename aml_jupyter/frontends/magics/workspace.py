"""``%aml_workspace``, ``%aml_compute`` and ``%aml_env``: the workspace the magics use, and the
compute targets and environments its runs can use."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .common import _friendly_errors, _parse, _workspace

if TYPE_CHECKING:
    import pandas as pd

    from ...tracking.workspace import Workspace


@magics_class
class WorkspaceMagics(Magics):
    """``%aml_workspace``, ``%aml_compute``, ``%aml_env``: the workspace and what runs can use."""

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
        args = _parse(WorkspaceMagics.aml_workspace, line)
        ws = _workspace(args.workspace)
        print(f"Workspace {ws.name} in {ws.folder}")
        return ws

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

        args = _parse(WorkspaceMagics.aml_compute, line)
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

        args = _parse(WorkspaceMagics.aml_env, line)
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

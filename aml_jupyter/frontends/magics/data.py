"""``%aml_datasets`` and ``%aml_datastores``: the workspace's datasets and datastores as
DataFrames, the same rows ``aml dataset list`` and ``aml datastore list --json`` print.

Registered with the other magics by ``%load_ext aml_jupyter``; same conventions (options as
``%aml_datasets?`` lists them, mistakes as one ``aml: ...`` line). Neither makes a workspace.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .common import _friendly_errors, _parse, _workspace

if TYPE_CHECKING:
    import pandas as pd

#: The columns of ``%aml_datasets``, indexed by ``name``.
DATASET_COLUMNS = [
    "name", "version", "kind", "files", "size", "registered", "runs", "description", "tags",
]  # fmt: skip
#: The columns of ``%aml_datastores``, indexed by ``name``.
DATASTORE_COLUMNS = ["name", "kind", "where", "default", "has_credentials"]


@magics_class
class DataMagics(Magics):
    """The datasets' and datastores' magics."""

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("name", nargs="?", help="Every version of this dataset instead, newest first.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_datasets(self, line: str) -> pd.DataFrame | None:
        """Registered datasets as a DataFrame indexed by name (the latest version of each;
        ``runs``: how many runs read or wrote it); ``%aml_datasets NAME``: its versions,
        indexed by version. ``Dataset.get_by_name(ws, name)`` gives one to read."""
        import pandas as pd

        from ..dataset_views import dataset_rows, dataset_versions

        args = _parse(DataMagics.aml_datasets, line)
        ws = _workspace(args.workspace, create=False)
        if args.name:
            rows = dataset_versions(ws, args.name)
            columns = [c for c in DATASET_COLUMNS if c != "runs"]
            return pd.DataFrame(rows, columns=columns).set_index("version")
        return pd.DataFrame(dataset_rows(ws), columns=DATASET_COLUMNS).set_index("name")

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_datastores(self, line: str) -> pd.DataFrame | None:
        """The workspace's datastores as a DataFrame indexed by name: kind, where the files
        are, which is the default, whether it holds credentials (never shown)."""
        import pandas as pd

        from ..dataset_views import datastore_rows

        args = _parse(DataMagics.aml_datastores, line)
        rows = datastore_rows(_workspace(args.workspace, create=False))
        return pd.DataFrame(rows, columns=DATASTORE_COLUMNS).set_index("name")

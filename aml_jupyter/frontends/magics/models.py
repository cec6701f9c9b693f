"""``%aml_register``, ``%aml_models`` and ``%aml_deploy``: the model registry and local
scoring services from a notebook.

Registered with the other magics by ``%load_ext aml_jupyter``; same conventions (options as
``%aml_register?`` lists them, mistakes as one ``aml: ...`` line, the API object returned).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from .common import _friendly_errors, _parse, _tags, _workspace

if TYPE_CHECKING:
    import pandas as pd

    from ...registry.deployment import LocalWebservice
    from ...registry.model import Model


@magics_class
class ModelMagics(Magics):
    """The model registry's magics."""

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("name", help="Model name; each registration adds a version.")
    @argument("path", help="A local file or folder, or with --run a run's file or folder.")
    @argument("--run", metavar="RUN", help="Take PATH from this run's files (lineage kept).")
    @argument("--tag", action="append", metavar="KEY=VALUE", help="A tag (repeatable).")
    @argument("--framework", metavar="F", help="e.g. ScikitLearn, PyTorch, Onnx.")
    @argument("--framework-version", metavar="V", help="The framework's version.")
    @argument("--description", metavar="TEXT", help="What the model is.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_register(self, line: str) -> Model | None:
        """Register a model: ``%aml_register iris outputs/model.pkl --run RUN_ID --tag stage=dev``.

        Without --run, PATH is a file or folder on this machine. Returns the Model.
        """
        from ..model_commands import register

        args = _parse(ModelMagics.aml_register, line)
        model = register(_workspace(args.workspace), args, _tags(args.tag))
        print(f"Registered {model.id}" + (f" from run {model.run_id}" if model.run_id else ""))
        return model

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("name", nargs="?", help="Only this model.")
    @argument("--tag", action="append", metavar="KEY[=VALUE]", help="Has this tag (repeatable).")
    @argument("--run", metavar="RUN", help="Only models registered from this run.")
    @argument("--latest", action="store_true", help="Only the latest version of each model.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_models(self, line: str) -> pd.DataFrame | None:
        """Registered models as a DataFrame indexed by id (name:version), newest first."""
        import pandas as pd

        from ...registry.model import Model

        args = _parse(ModelMagics.aml_models, line)
        ws = _workspace(args.workspace)
        tags = [[k, v] if v is not None else k for k, v in (_tags(args.tag) or {}).items()]
        models = Model.list(ws, name=args.name, tags=tags, run_id=args.run, latest=args.latest)
        columns = ["id", "name", "version", "framework", "run", "path", "size", "created", "tags"]
        rows = [
            {
                "id": m.id,
                "name": m.name,
                "version": m.version,
                "framework": m.model_framework,
                "run": m.run_id,
                "path": m.serialize()["path"],
                "size": m.size,
                "created": m.created_time,
                "tags": m.tags,
            }
            for m in models
        ]
        return pd.DataFrame(rows, columns=columns).set_index("id")

    @line_magic
    @_friendly_errors
    @magic_arguments()
    @argument("name", help="The service's name.")
    @argument("models", nargs="+", help="Models to serve: NAME or NAME:VERSION.")
    @argument("--entry-script", metavar="FILE", help="score.py with init() and run(raw_data).")
    @argument("--source-directory", default=".", metavar="DIR", help="The entry script's folder.")
    @argument("--port", type=int, metavar="N", help="Port (default: a free one).")
    @argument("--workers", type=int, default=1, metavar="N", help="Worker processes.")
    @argument("--overwrite", action="store_true", help="Replace a service of that name.")
    @argument("-w", "--workspace", metavar="PATH", help="Folder of the workspace to use.")
    def aml_deploy(self, line: str) -> LocalWebservice | None:
        """Deploy models as a local scoring service; returns it once it is Healthy.

        ``%aml_deploy iris-svc iris:2`` (a scikit-learn model needs no script) or
        ``%aml_deploy svc iris --entry-script score.py --source-directory serve``.
        """
        from ..model_commands import deploy

        args = _parse(ModelMagics.aml_deploy, line)
        service = deploy(_workspace(args.workspace), args)
        print(f"Service {service.name!r} is Healthy at {service.scoring_uri}")
        return service

"""What the model front ends share: ``%aml_register``/``aml model register`` and
``%aml_deploy``/``aml service deploy`` take the same options and do the same thing."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..registry.deployment import LocalWebservice
    from ..registry.model import Model
    from ..tracking.workspace import Workspace


def register(ws: Workspace, args: Any, tags: dict[str, Any] | None) -> Model:
    """``args.name``/``args.path``: a run's file or folder with ``args.run``, else a local path."""
    from ..registry.model import Model

    options = {
        "tags": tags,
        "model_framework": args.framework,
        "model_framework_version": args.framework_version,
        "description": args.description,
    }
    if args.run:
        return ws.get_run(args.run).register_model(args.name, args.path, **options)
    return Model.register(ws, args.path, args.name, **options)


def deploy(ws: Workspace, args: Any) -> LocalWebservice:
    """Deploy ``args.models`` (ids) as service ``args.name``; with ``args.entry_script`` from
    ``args.source_directory``, else no-code; ``args.port``/``workers``/``overwrite``."""
    from ..registry.deployment import InferenceConfig, LocalWebservice
    from ..registry.model import Model

    models = [Model(ws, m) for m in args.models]
    inference = None
    if args.entry_script:
        inference = InferenceConfig(args.entry_script, source_directory=args.source_directory)
    config = LocalWebservice.deploy_configuration(port=args.port, workers=args.workers)
    return Model.deploy(ws, args.name, models, inference, config, overwrite=args.overwrite)

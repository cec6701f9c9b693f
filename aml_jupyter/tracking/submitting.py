"""``Experiment.submit(config)`` dispatches on the config's type, as in Azure ML v1.

A config class names the function that submits it with ``@experiment_method``, on the class
or (v1's way) on its ``__init__``::

    def submit(config, workspace, experiment_name, *, tags=None, _parent_run_id=None, **kwargs):
        ...  # start the run; return it (a Run)

    @experiment_method(submit_function=submit)
    class MyConfig: ...

Subclasses inherit their base's function unless they name their own. ``ScriptRunConfig``
registers itself this way (in compute); Pipeline, HyperDriveConfig, AutoMLConfig and Estimator
will too, without tracking knowing them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import AmlError
from . import plugins

if TYPE_CHECKING:
    from .run import Run
    from .workspace import Workspace

#: ``submit_function(config, workspace, experiment_name, *, tags=None, _parent_run_id=None,
#: **kwargs) -> Run``.
SubmitFunction = Callable[..., "Run"]
T = TypeVar("T")

_lock = threading.Lock()
_submitters: dict[type, SubmitFunction] = {}


def experiment_method(submit_function: SubmitFunction) -> Callable[[T], T]:
    """Register ``submit_function`` as the way ``Experiment.submit`` runs configs of the
    decorated class (or of the class whose ``__init__`` is decorated, as in v1)."""
    if not callable(submit_function):
        raise AmlError("experiment_method(submit_function=...) needs a function.")

    def decorate(target: T) -> T:
        if isinstance(target, type):
            register_submit_function(target, submit_function)
            return target
        if callable(target):
            return _RegistersOwner(target, submit_function)  # type: ignore[return-value]
        raise AmlError("@experiment_method decorates a config class or its __init__.")

    return decorate


class _RegistersOwner:
    """v1 puts ``@experiment_method`` on ``__init__``: register the class it is defined in,
    then step aside for the plain function."""

    def __init__(self, function: Callable[..., Any], submit_function: SubmitFunction) -> None:
        self.function = function
        self.submit_function = submit_function

    def __set_name__(self, owner: type, name: str) -> None:
        register_submit_function(owner, self.submit_function)
        setattr(owner, name, self.function)


def register_submit_function(config_type: type, submit_function: SubmitFunction) -> None:
    """What ``@experiment_method`` does: ``config_type`` (and its subclasses) submit with
    ``submit_function``."""
    with _lock:
        _submitters[config_type] = submit_function


def submit_function_for(config: Any) -> SubmitFunction:
    """The function registered for ``config``'s type or its nearest base, or an
    :class:`AmlError` naming the types that can be submitted."""
    found = _lookup(type(config))
    if found is None:
        for name in plugins.names("config."):  # the built-in configs register on import
            plugins.load(name)
        found = _lookup(type(config))
    if found is None:
        with _lock:
            known = sorted(t.__name__ for t in _submitters)
        raise AmlError(
            f"Cannot submit a {type(config).__name__}: Experiment.submit takes one of "
            f"{', '.join(known)} (e.g. ScriptRunConfig(source_directory='.', script='train.py'))."
        )
    return found


def _lookup(config_type: type) -> SubmitFunction | None:
    with _lock:
        for base in config_type.__mro__:
            if base in _submitters:
                return _submitters[base]
    return None


def submit(
    config: Any,
    workspace: Workspace,
    experiment_name: str,
    tags: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Run:
    """Submit ``config`` with its registered function (what ``Experiment.submit`` does)."""
    return submit_function_for(config)(config, workspace, experiment_name, tags=tags, **kwargs)


__all__ = ["experiment_method", "register_submit_function", "submit_function_for"]

"""Azure ML v1's ``azureml.core.authentication``: accepted so v1 notebooks that build an
``auth=`` object run; a local workspace needs no sign-in, so these hold nothing and ask for
nothing (``Workspace.from_config(auth=...)`` and ``Workspace.get(auth=...)`` ignore them)."""

from __future__ import annotations

from typing import Any


class AbstractAuthentication:
    """What every v1 authentication class is here: the arguments it was given, unused."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Kept by name only: a service principal's password or secret is never stored.
        self._given = sorted(kwargs)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(local workspace: no sign-in needed)"


class InteractiveLoginAuthentication(AbstractAuthentication):
    """v1's browser or device-code sign-in: nothing to sign in to."""


class ServicePrincipalAuthentication(AbstractAuthentication):
    """v1's service principal (tenant, id, secret): accepted, the secret is not kept."""


class MsiAuthentication(AbstractAuthentication):
    """v1's managed identity: accepted."""


class AzureCliAuthentication(AbstractAuthentication):
    """v1's ``az login`` credentials: accepted."""


__all__ = [
    "AbstractAuthentication",
    "AzureCliAuthentication",
    "InteractiveLoginAuthentication",
    "MsiAuthentication",
    "ServicePrincipalAuthentication",
]

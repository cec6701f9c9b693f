"""Azure ML v1's ``azureml.core.webservice``: scoring services, served by aml_jupyter.

``LocalWebservice`` runs as processes on this machine, ``AciWebservice`` in a Docker
container (as Azure Container Instances did); ``Webservice(ws, name)`` finds either.
"""

from typing import Any

from aml_jupyter.registry.aci import AciServiceDeploymentConfiguration, AciWebservice
from aml_jupyter.registry.service_config import LocalWebserviceDeploymentConfiguration
from aml_jupyter.registry.webservice import LocalWebservice, Webservice

from .._not_supported import missing

__all__ = [
    "AciServiceDeploymentConfiguration",
    "AciWebservice",
    "LocalWebservice",
    "LocalWebserviceDeploymentConfiguration",
    "Webservice",
]


def __getattr__(name: str) -> Any:
    missing(__name__, name, "LocalWebservice and AciWebservice are")

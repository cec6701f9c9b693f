"""Azure ML v1's ``azureml.core.compute``, served by aml_jupyter.

``AmlCompute`` (v1's managed cluster) is a Ray cluster this package starts and stops (or the
one ``AML_RAY_ADDRESS`` names); ``ComputeInstance`` an agent on this machine (or an attached
one); ``ComputeCluster`` attaches a Ray cluster of your own.
"""

from typing import Any

from aml_jupyter.compute import ComputeTarget
from aml_jupyter.compute.cluster.aml_compute import AmlCompute, AmlComputeProvisioningConfiguration
from aml_jupyter.compute.cluster.target import ComputeCluster
from aml_jupyter.compute.instance.provisioned import ComputeInstanceProvisioningConfiguration
from aml_jupyter.compute.instance.target import ComputeInstance

from .._not_supported import missing

__all__ = [
    "AmlCompute",
    "AmlComputeProvisioningConfiguration",
    "ComputeCluster",
    "ComputeInstance",
    "ComputeInstanceProvisioningConfiguration",
    "ComputeTarget",
]


def __getattr__(name: str) -> Any:
    missing(__name__, name, "AmlCompute, ComputeInstance and ComputeCluster are")

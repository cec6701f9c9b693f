"""Azure ML v1's ``azureml.core.compute``, served by aml_jupyter inside aml_jupyter runs.

``AmlCompute`` (v1's managed cluster) is our Ray-backed ``ComputeCluster``.
"""

from aml_jupyter import ComputeCluster, ComputeInstance, ComputeTarget

AmlCompute = ComputeCluster

__all__ = ["AmlCompute", "ComputeCluster", "ComputeInstance", "ComputeTarget"]

"""Azure ML v1's ``azureml.train.estimator``, served by aml_jupyter."""

from aml_jupyter.compute.estimator import Estimator, Gloo, Mpi, Nccl

__all__ = ["Estimator", "Gloo", "Mpi", "Nccl"]

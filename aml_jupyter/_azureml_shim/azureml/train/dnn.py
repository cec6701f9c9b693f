"""Azure ML v1's ``azureml.train.dnn``, served by aml_jupyter (Chainer is not provided)."""

from aml_jupyter.compute.estimator import Gloo, Mpi, Nccl, ParameterServer
from aml_jupyter.compute.frameworks import PyTorch, TensorFlow

__all__ = ["Gloo", "Mpi", "Nccl", "ParameterServer", "PyTorch", "TensorFlow"]

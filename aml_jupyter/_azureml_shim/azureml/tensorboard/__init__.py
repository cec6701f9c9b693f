"""``from azureml.tensorboard import Tensorboard``: TensorBoard over runs' ``./logs``."""

from aml_jupyter import Tensorboard

__all__ = ["Tensorboard"]

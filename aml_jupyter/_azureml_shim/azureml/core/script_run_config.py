"""Azure ML v1's ``azureml.core.script_run_config``, served by aml_jupyter."""

from aml_jupyter.compute.config import ScriptRunConfig

__all__ = ["ScriptRunConfig"]

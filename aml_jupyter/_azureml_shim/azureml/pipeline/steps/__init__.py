"""Azure ML v1's ``azureml.pipeline.steps``, served by aml_jupyter."""

from aml_jupyter.workflows.pipelines import PythonScriptStep

__all__ = ["PythonScriptStep"]

"""Azure ML v1's ``azureml.pipeline.steps``, served by aml_jupyter."""

from aml_jupyter.workflows.pipelines import CommandStep, PythonScriptStep

__all__ = ["CommandStep", "PythonScriptStep"]

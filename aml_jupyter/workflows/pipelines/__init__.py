"""Pipelines (v1's ``azureml.pipeline``): steps with content-based reuse, run on ``local`` by a
detached orchestrator, each step an ordinary child run."""

from .data import PipelineData, PipelineParameter
from .pipeline import Pipeline
from .runs import PipelineRun, PortDataReference, StepRun
from .steps import CommandStep, PipelineStep, PythonScriptStep, StepSequence

__all__ = [
    "CommandStep",
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PipelineStep",
    "PortDataReference",
    "PythonScriptStep",
    "StepRun",
    "StepSequence",
]

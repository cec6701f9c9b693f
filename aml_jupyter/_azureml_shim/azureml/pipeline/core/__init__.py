"""Azure ML v1's ``azureml.pipeline.core``, served by aml_jupyter: pipelines on ``local``."""

from aml_jupyter.workflows.pipelines import (
    Pipeline,
    PipelineData,
    PipelineParameter,
    PipelineRun,
    PortDataReference,
    StepRun,
    StepSequence,
)

__all__ = [
    "Pipeline",
    "PipelineData",
    "PipelineParameter",
    "PipelineRun",
    "PortDataReference",
    "StepRun",
    "StepSequence",
]

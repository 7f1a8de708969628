"""Errors of the demo (its settings or its output folder), in the pipeline's shape and hierarchy."""

from __future__ import annotations

from datasetgan.pipeline.errors import PipelineError


class DemoError(PipelineError):
    """Demo settings that cannot run, or an output folder left by another demo run."""

"""Errors of the orchestration layer: a runner or server that cannot be used. They share the
pipeline's shape ("where: problem; expected ...") and hierarchy, so the CLI shows them as one line."""

from __future__ import annotations

from datasetgan.pipeline.errors import PipelineError


class FlowError(PipelineError):
    """Base class of the errors ``datasetgan.flows`` raises itself."""


class RunnerError(FlowError):
    """A task runner that cannot work here (a remote Dask cluster without a Prefect server)."""


class ServerError(FlowError):
    """A Prefect server that could not be started, reached or used for scheduling."""

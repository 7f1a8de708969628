"""Errors of the annotation studio and the mask importers: what was wrong, where, what is expected
(they are pipeline errors, so the CLI prints them as one line)."""

from __future__ import annotations

from datasetgan.pipeline.errors import PipelineError


class StudioError(PipelineError):
    """A run folder, a mask or a request the studio cannot use."""


class UnknownSample(StudioError):
    """An id that is not a sample of the run folder (HTTP 404)."""


class MaskRejected(StudioError):
    """An uploaded mask of the wrong size, with unknown class ids, or not a PNG (HTTP 422)."""


class ImportFailed(StudioError):
    """Masks from another tool that cannot be converted (one line per bad file)."""

"""Semantic editing (EditGAN): change a label map, get the image that matches it, keep the change as
an editing vector that applies to other samples. No Prefect; see ``datasetgan edit``."""

from datasetgan.editing.edit import EditConfig, EditResult, EditWeights, edit
from datasetgan.editing.errors import EditError
from datasetgan.editing.vector import EditingVector, apply_edit, load_vector

__all__ = [
    "EditConfig",
    "EditError",
    "EditResult",
    "EditWeights",
    "EditingVector",
    "apply_edit",
    "edit",
    "load_vector",
]

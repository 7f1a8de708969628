"""A procedural domain of 64x64 faces with exact label masks (the project's toy world, version 2).

The public entry points, which independent checks use: :func:`render_batch` (seeds -> images
[N, 64, 64, 3] uint8 and exact masks [N, 64, 64] uint8), :func:`oracle_annotate` (an image ->
the annotator's mask, from pixels alone) and :data:`CLASS_NAMES`.
"""

from datasetgan.interpreter.validation import IoU, confusion_matrix, mean_iou
from datasetgan.toyfaces.data import (
    ToyFaces,
    colour_mask,
    label_image,
    read_png_folder,
    to_tensor,
    write_png_folder,
)
from datasetgan.toyfaces.domain import CLASS_NAMES, PALETTE, RESOLUTION, VERSION, K
from datasetgan.toyfaces.oracle import oracle_annotate, oracle_annotate_batch
from datasetgan.toyfaces.renderer import Sample, render, render_batch, render_parallel

__all__ = [
    "CLASS_NAMES",
    "PALETTE",
    "RESOLUTION",
    "VERSION",
    "IoU",
    "K",
    "Sample",
    "ToyFaces",
    "colour_mask",
    "confusion_matrix",
    "label_image",
    "mean_iou",
    "oracle_annotate",
    "oracle_annotate_batch",
    "read_png_folder",
    "render",
    "render_batch",
    "render_parallel",
    "to_tensor",
    "write_png_folder",
]

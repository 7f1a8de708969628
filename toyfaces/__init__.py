"""A procedural domain of stylised 64x64 faces with exact label masks (the project's toy world)."""

from toyfaces.domain import CLASS_NAMES, FAMILIES, PALETTE, RESOLUTION, ColourFamily, K
from toyfaces.renderer import Sample, render, render_batch

__all__ = [
    "CLASS_NAMES",
    "FAMILIES",
    "PALETTE",
    "RESOLUTION",
    "ColourFamily",
    "K",
    "Sample",
    "render",
    "render_batch",
]

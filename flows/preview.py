"""Pictures people look at: image grids written as PNG (the helpers live in models.imaging)."""

from __future__ import annotations

from models.imaging import grid_image, save_png, to_uint8

__all__ = ["grid_image", "save_png", "to_uint8"]

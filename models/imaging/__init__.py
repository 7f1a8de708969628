"""The one imaging module: reading image files into arrays (:mod:`.reading`) and making the pictures
people look at (:mod:`.pictures`: grids, label overlays, heat maps, atomic PNG writes)."""

from datasetgan.models.imaging.pictures import (
    grid_image,
    heat,
    overlay,
    save_png,
    to_uint8,
    write_columns,
    write_preview,
)
from datasetgan.models.imaging.reading import (
    ImageBatch,
    ImageFailure,
    ImageReadConfig,
    ImageReadError,
    list_files,
    read_image,
    read_images,
    to_signed_float,
)

__all__ = [
    "ImageBatch",
    "ImageFailure",
    "ImageReadConfig",
    "ImageReadError",
    "grid_image",
    "heat",
    "list_files",
    "overlay",
    "read_image",
    "read_images",
    "save_png",
    "to_signed_float",
    "to_uint8",
    "write_columns",
    "write_preview",
]

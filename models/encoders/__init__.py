"""FPN encoders (pSp GradualStyleEncoder, e4e Encoder4Editing) mapping images to W+ codes.

Shapes: images [N, C, S, S] in [-1, 1]; codes [N, L, D].
"""

from datasetgan.models.encoders.config import EncoderConfig
from datasetgan.models.encoders.errors import (
    EncoderCheckpointError,
    EncoderConfigError,
    EncoderError,
    EncoderInputError,
)
from datasetgan.models.encoders.io import (
    PSPCheckpoint,
    load_encoder,
    read_encoder_metadata,
    save_encoder,
)
from datasetgan.models.encoders.networks import (
    Encoder,
    Encoder4Editing,
    GradualStyleEncoder,
    build_encoder,
)
from datasetgan.models.encoders.preprocess import fit_input
from datasetgan.models.encoders.psp_format import load_psp_checkpoint, save_psp_checkpoint

__all__ = [
    "Encoder",
    "Encoder4Editing",
    "EncoderCheckpointError",
    "EncoderConfig",
    "EncoderConfigError",
    "EncoderError",
    "EncoderInputError",
    "GradualStyleEncoder",
    "PSPCheckpoint",
    "build_encoder",
    "fit_input",
    "load_encoder",
    "load_psp_checkpoint",
    "read_encoder_metadata",
    "save_encoder",
    "save_psp_checkpoint",
]

"""Errors of the encoder package: what was wrong, where, and what was expected.

They sit under the model libraries' hierarchy (``models.errors``), so ``except ModelError`` catches them.
"""

from __future__ import annotations

from datasetgan.models.errors import CheckpointError, ConfigError, ModelError


class EncoderError(ModelError):
    """Base class of encoder, training, projection and embedding errors."""


class EncoderConfigError(EncoderError, ConfigError):
    """An encoder, training or refinement configuration value is out of range or inconsistent."""


class EncoderInputError(EncoderError, ValueError):
    """Images of the wrong shape, size or range were given to an encoder."""


class EncoderCheckpointError(EncoderError, CheckpointError):
    """A checkpoint file is missing, unsafe, or does not match the expected key layout."""

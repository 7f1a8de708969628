"""Errors raised by the model libraries. Messages say what was wrong, where, and what was expected."""


class ModelError(Exception):
    """Base class for every error raised by ``models``."""


class ConfigError(ModelError, ValueError):
    """A model configuration that cannot be built (e.g. an unsupported resolution)."""


class CheckpointError(ModelError):
    """A checkpoint that cannot be read: missing, corrupt, unsafe, or not the expected layout."""


class PrecisionError(ModelError, ValueError):
    """A compute precision this hardware cannot run (e.g. bf16 on a CPU without BF16 instructions)."""

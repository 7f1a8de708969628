"""Errors of the pipeline layer (and so of the flows over it). Like ``storage.errors``, each one is
built from what was wrong, where, and what was expected, so every message has the same shape."""

from __future__ import annotations

import sys
from pathlib import Path


class PipelineError(Exception):
    """Base class of every error the pipeline raises about its inputs (never a bug)."""

    def __init__(self, where: str | Path, problem: str, expected: str = "") -> None:
        self.where = str(where)
        self.problem = problem
        self.expected = expected
        text = f"{self.where}: {problem}"
        if expected:
            text += f"; expected {expected}"
        super().__init__(text)


class InputError(PipelineError, ValueError):
    """A parameter or input file that cannot be used (missing, empty, of the wrong kind)."""


class RecipeError(PipelineError):
    """A store whose recorded recipe is missing, unreadable, of another kind, or differs from the
    one asked for (a resume or append must use the values the store was started with)."""


class ModelMismatchError(PipelineError):
    """Models that do not belong together or to a store: another generator's samples or store, an
    interpreter whose labels are not the image size."""


class ShardsFailedError(PipelineError):
    """Some shard tasks of a run failed (the shards that landed stay: re-running resumes)."""


# The other libraries' base errors, as (module, class). Their packages import torch or pandas, so
# they are looked up among the loaded modules: an error of a module never imported cannot exist.
_LIBRARY_ERRORS = (
    ("datasetgan.storage.errors", "StorageError"),
    ("datasetgan.models.errors", "ModelError"),
    ("datasetgan.interpreter.errors", "InterpreterError"),
    ("datasetgan.editing.errors", "EditError"),
)


def user_error_types() -> tuple[type[BaseException], ...]:
    """Every error a user can act on: the project's own hierarchies (storage, models and encoders,
    interpreter, pipeline and flows) and OSError (a full disk, a permission). Anything else is a bug.
    """
    found = [
        getattr(sys.modules[module], name)
        for module, name in _LIBRARY_ERRORS
        if module in sys.modules
    ]
    return (*found, PipelineError, OSError)


def is_user_error(exc: BaseException) -> bool:
    return isinstance(exc, user_error_types())

"""Which exceptions the CLI prints as one line (user errors) and which keep their traceback (bugs)."""

from __future__ import annotations

import pytest

from datasetgan.interpreter.errors import AnnotationError, InterpreterError
from datasetgan.models.errors import CheckpointError, ModelError
from datasetgan.pipeline.errors import InputError, RecipeError, is_user_error
from datasetgan.storage.errors import StorageError


@pytest.mark.parametrize(
    "exc",
    [
        StorageError("s.h5", "truncated", "a whole shard"),
        CheckpointError("g.pt: corrupt"),
        ModelError("x"),
        AnnotationError("m.png: colours"),
        InterpreterError("x"),
        InputError("in", "empty", "an image"),
        RecipeError("store", "other seed"),
        FileNotFoundError("x"),
    ],
)
def test_the_project_errors_are_user_errors(exc: BaseException) -> None:
    assert is_user_error(exc)


@pytest.mark.parametrize("exc", [ValueError("x"), KeyError("x"), RuntimeError("x"), TypeError()])
def test_other_exceptions_are_bugs(exc: BaseException) -> None:
    assert not is_user_error(exc)

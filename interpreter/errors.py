"""Errors raised by ``interpreter``. Messages say what was wrong, where, and what was expected."""

from __future__ import annotations


class InterpreterError(Exception):
    """Base class of every error raised by ``interpreter``."""


class AnnotationError(InterpreterError, ValueError):
    """Annotations that cannot be used: a bad mask or class list, a missing latent, duplicate ids."""


class GeneratorMismatchError(InterpreterError):
    """An interpreter used with a generator (or features) other than the one it was trained on."""


class InterpreterFormatError(InterpreterError):
    """A saved interpreter that cannot be read: missing files, unknown version, inconsistent weights."""


class TrainingError(InterpreterError):
    """Training cannot run with the given data and configuration."""

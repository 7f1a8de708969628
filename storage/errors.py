"""Errors raised by `storage`. Every message says what was wrong, where (a file path) and what was expected."""

from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base class of every error `storage` raises about files on disk."""

    def __init__(self, path: str | Path, problem: str, expected: str = "") -> None:
        self.path = Path(path)
        self.problem = problem
        self.expected = expected
        text = f"{self.path}: {problem}"
        if expected:
            text += f"; expected {expected}"
        super().__init__(text)


class NotAStoreError(StorageError):
    """The path is not an HDF5 file, or not a store written by this package."""


class SchemaError(StorageError):
    """Unknown or newer `schema_version`, or fields/classes that disagree with the store's spec."""


class ShardError(StorageError):
    """A shard is missing, truncated, damaged or inconsistent with its store."""


class WriterError(StorageError):
    """A shard writer was used wrongly (wrong sample count, write after close, ...)."""

"""Errors of semantic editing: what was wrong, where, what is expected (the CLI prints them as one
line: ``pipeline.errors.user_error_types`` knows this hierarchy)."""

from __future__ import annotations

from pathlib import Path


class EditError(Exception):
    """A target mask, region, vector or model that an edit cannot use."""

    def __init__(self, where: str | Path, problem: str = "", expected: str = "") -> None:
        """``EditError(where, problem, expected)``; a single argument is the whole message."""
        self.where, self.problem, self.expected = str(where), problem, expected
        text = f"{where}: {problem}" if problem else str(where)
        super().__init__(text + (f"; expected {expected}" if expected else ""))

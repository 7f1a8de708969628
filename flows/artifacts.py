"""The Prefect artifacts of a run: its summary table, a markdown report with the preview PNG, and a
progress bar that follows the shards (the rows and pictures come from datasetgan.pipeline.summary)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast
from uuid import UUID

from prefect.artifacts import (
    create_markdown_artifact,
    create_progress_artifact,
    create_table_artifact,
    update_progress_artifact,
)


def artifact_key(prefix: str, path: Path) -> str:
    """A valid artifact key (lowercase letters, digits, dashes) naming the output folder."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{prefix}-{path.name}".lower()).strip("-")
    return slug[:100] or prefix


def publish_table(key: str, rows: list[dict[str, Any]], description: str) -> None:
    create_table_artifact(table=rows, key=key, description=description)


def publish_markdown(key: str, title: str, lines: Sequence[str], preview: Path | None) -> None:
    text = [f"# {title}", "", *lines]
    if preview is not None:
        text += [
            "",
            f"Preview (image | label overlay | uncertainty): `{preview}`",
            "",
            f"![preview]({preview.resolve().as_uri()})",
        ]
    create_markdown_artifact(markdown="\n".join(text), key=key, description=title)


class ProgressArtifact:
    """A Prefect progress artifact, updated as shards finish."""

    def __init__(self, key: str, total: int, description: str) -> None:
        self.total = max(total, 1)
        made = create_progress_artifact(progress=0.0, key=key, description=description)
        self.id = cast(UUID, made)  # sync call: a UUID

    def update(self, done: int) -> None:
        update_progress_artifact(artifact_id=self.id, progress=100.0 * done / self.total)

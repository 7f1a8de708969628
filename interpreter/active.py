"""Active learning: which unannotated samples to annotate next (the most uncertain first)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import torch

from datasetgan.interpreter.model import Interpreter
from datasetgan.models.stylegan2 import Generator


@dataclass(frozen=True)
class Candidate:
    """A sample and its image score (mean of its top-10% pixel uncertainties; higher = less certain)."""

    sample_id: int
    score: float


@torch.no_grad()
def rank_candidates(
    interpreter: Interpreter,
    generator: Generator,
    latents: Mapping[int, torch.Tensor],
    *,
    exclude: Iterable[int] = (),
    batch_size: int = 4,
    top: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[Candidate]:
    """Render and label every sample id -> W+ code [L, D] of ``latents`` not in ``exclude``; return
    them sorted by score, most uncertain first (ties by sample id), at most ``top`` of them."""
    skip = {int(i) for i in exclude}
    ids = sorted(int(i) for i in latents if int(i) not in skip)
    out: list[Candidate] = []
    for s in range(0, len(ids), max(1, batch_size)):
        chunk = ids[s : s + max(1, batch_size)]
        ws = torch.stack([torch.as_tensor(latents[i], dtype=torch.float32) for i in chunk])
        _, result = interpreter.render_and_label(generator, ws.to(generator.w_avg.device))
        out += [Candidate(i, float(v)) for i, v in zip(chunk, result.score.tolist(), strict=True)]
        if progress is not None:
            progress(min(s + len(chunk), len(ids)), len(ids))
    out.sort(key=lambda c: (-c.score, c.sample_id))
    return out if top is None else out[:top]

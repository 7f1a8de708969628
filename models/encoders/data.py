"""Training batches for encoders: generator samples with known W+, or real images from files.

Every random choice comes from the ``torch.Generator`` passed in, so a run (and a resumed run) is a
pure function of its seed. Images are ``[N, 3, R, R]`` in [-1, 1] at the generator's resolution R.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

from datasetgan.models.encoders.errors import EncoderInputError
from datasetgan.models.encoders.generator_access import device_of
from datasetgan.models.imaging import ImageReadConfig, read_images, to_signed_float
from datasetgan.models.stylegan2.generator import Generator

log = logging.getLogger(__name__)


class TrainBatch(NamedTuple):
    images: Tensor  # [N, 3, R, R] targets, [-1, 1]
    ws: Tensor | None  # [N, L, D] the codes that made them (generator samples), else None
    source: str  # "samples" | "images"


@torch.no_grad()
def sample_batch(
    generator: Generator, n: int, *, rng: torch.Generator, truncation: float = 1.0
) -> TrainBatch:
    """``n`` generator samples: z ~ N(0, I) from ``rng``, w = mapping(z), const noise."""
    device = device_of(generator)
    z = torch.randn(n, generator.w_dim, generator=rng).to(device)
    w = generator.mapping(z, truncation)
    ws = w.unsqueeze(1).expand(-1, generator.n_latent, -1).contiguous()
    image = generator.synthesize(ws, noise_mode="const", taps="none").image
    return TrainBatch(image, ws, "samples")


class ImageFolderSource:
    """Real training images drawn uniformly (with replacement) from ``paths``.

    Files are read when drawn (``storage.images`` policy, at the generator's resolution). A file
    that fails is logged once, never drawn again, and replaced by another draw from ``rng``.
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike[str]],
        read_config: ImageReadConfig,
        *,
        device: torch.device | str = "cpu",
    ) -> None:
        if not paths:
            raise EncoderInputError("ImageFolderSource: got no image paths, expected at least one")
        self.paths = [str(p) for p in paths]
        self.read_config = read_config
        self.device = device
        self.bad: dict[int, str] = {}

    def batch(self, n: int, *, rng: torch.Generator) -> TrainBatch:
        """``n`` images ``[n, 3, R, R]`` drawn with ``rng``."""
        chosen: list[Tensor] = []
        attempts = 0
        while len(chosen) < n:
            attempts += 1
            if len(self.bad) == len(self.paths) or attempts > 20 * n + 100:
                raise EncoderInputError(
                    f"ImageFolderSource: {len(self.bad)} of {len(self.paths)} files unreadable, "
                    f"could not fill a batch of {n} (first: {next(iter(self.bad.values()), '')})"
                )
            idx = int(torch.randint(len(self.paths), (), generator=rng))
            if idx in self.bad:
                continue
            result = read_images([self.paths[idx]], self.read_config)
            if result.failures:
                self.bad[idx] = result.failures[0].reason
                log.warning("training image skipped: %s", result.failures[0].reason)
                continue
            chosen.append(torch.from_numpy(to_signed_float(result.images)))
        return TrainBatch(torch.cat(chosen).to(self.device), None, "images")

"""ReStyle (Alaluf, Patashnik & Cohen-Or, ICCV 2021): an FPN encoder that refines its own code.

Start from the mean code w_0 = mean W (every entry) and its image y_0 = G(w_0). Each pass t feeds
the encoder the target and the current reconstruction side by side (6 channels) and adds its output
to the code:

    w_{t+1} = w_t + E(concat(x, y_t)),    y_{t+1} = G(w_{t+1})

``iterations`` passes at inference (the config's, unless given). Training runs the same passes per
batch with a loss after each, gradients not flowing between passes (the previous code and image are
detached), and one optimiser step per batch (:class:`models.encoders.training.EncoderTrainer`).

Shapes: N images, S encoder input size, R generator resolution, L w vectors, D w dimension.
"""

from __future__ import annotations

import torch
from torch import Tensor

from datasetgan.models.encoders.networks import Encoder
from datasetgan.models.encoders.preprocess import fit_input
from datasetgan.models.stylegan2.generator import Generator


def start(encoder: Encoder, generator: Generator, n: int) -> tuple[Tensor, Tensor]:
    """(w_0 [N, L, D], y_0 [N, 3, R, R]): the mean code and its image."""
    w0 = encoder.latent_avg.to(generator.w_avg.dtype).unsqueeze(0).expand(n, -1, -1)
    with torch.no_grad():
        y0 = generator.synthesize(w0[:1].contiguous(), noise_mode="const", taps="none").image
    return w0.contiguous(), y0.expand(n, -1, -1, -1)


def step(encoder: Encoder, images: Tensor, w: Tensor, y: Tensor) -> Tensor:
    """One pass: w + E(concat(x, y)) for images and reconstructions [N, 3, R, R] (any size)."""
    size = encoder.config.input_size
    return w + encoder(torch.cat([fit_input(images, size), fit_input(y, size)], dim=1))


@torch.no_grad()
def encode(
    encoder: Encoder, generator: Generator, images: Tensor, *, iterations: int | None = None
) -> list[Tensor]:
    """The code after every pass: ``iterations`` tensors [N, L, D] (the last is the result)."""
    passes = encoder.config.iterations if iterations is None else iterations
    w, y = start(encoder, generator, images.shape[0])
    codes = []
    for _ in range(passes):
        w = step(encoder, images, w, y)
        y = generator.synthesize(w, noise_mode="const", taps="none").image
        codes.append(w)
    return codes


def encode_images(encoder: Encoder, generator: Generator, images: Tensor) -> Tensor:
    """W+ [N, L, D] of images [N, 3, R, R] in [-1, 1]: one pass, or ReStyle's passes."""
    if encoder.config.iterations > 1:
        return encode(encoder, generator, images)[-1]
    return encoder(fit_input(images, encoder.config.input_size))

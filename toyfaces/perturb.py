"""Generator-like degradations of toy-face images, to test the oracle's robustness.

All take uint8 [N, H, W, 3] (or [H, W, 3]) and return the same shape and dtype; random steps take an
explicit `np.random.Generator`.
"""

from __future__ import annotations

import numpy as np


def gaussian_blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur of std `sigma` pixels (edges replicated)."""
    if sigma <= 0:
        return images.copy()
    x = images.astype(np.float32)
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float32)
    k = np.exp(-(t**2) / (2 * sigma**2))
    k /= k.sum()
    h, w = x.shape[-3], x.shape[-2]
    lead = ((0, 0),) * (x.ndim - 3)
    p = np.pad(x, (*lead, (r, r), (0, 0), (0, 0)), mode="edge")
    y = sum(k[i] * p[..., i : i + h, :, :] for i in range(2 * r + 1))
    p = np.pad(np.asarray(y), (*lead, (0, 0), (r, r), (0, 0)), mode="edge")
    y = sum(k[i] * p[..., :, i : i + w, :] for i in range(2 * r + 1))
    return np.clip(np.rint(np.asarray(y)), 0, 255).astype(np.uint8)


def add_noise(images: np.ndarray, std: float, rng: np.random.Generator) -> np.ndarray:
    """Add i.i.d. Gaussian noise of `std` (in 0..255 units) to every channel."""
    y = images.astype(np.float32) + rng.normal(0.0, std, images.shape).astype(np.float32)
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


def colour_shift(images: np.ndarray, amount: float, rng: np.random.Generator) -> np.ndarray:
    """Per image, scale each channel by 1 + U(-amount, amount) (a global colour cast)."""
    lead = images.shape[:-3]
    gain = 1.0 + rng.uniform(-amount, amount, size=(*lead, 1, 1, 3)).astype(np.float32)
    return np.clip(np.rint(images.astype(np.float32) * gain), 0, 255).astype(np.uint8)


def degrade(
    images: np.ndarray, *, blur: float, noise: float, shift: float, rng: np.random.Generator
) -> np.ndarray:
    """Blur, then colour cast, then noise."""
    return add_noise(colour_shift(gaussian_blur(images, blur), shift, rng), noise, rng)

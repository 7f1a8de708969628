"""The classes of the toy-face domain, their colour families and the label palette.

Each class draws its colour from its own family, a box in HSV (hue in degrees, saturation and value
in [0, 1]). The families are chosen far apart in CIELAB so that a pixel's colour alone says which class
it belongs to (this is what makes the oracle annotator possible).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

CLASS_NAMES: tuple[str, ...] = (
    "background",
    "skin",
    "hair",
    "eye",
    "nose",
    "mouth",
    "hat",
    "clothes",
)
K = len(CLASS_NAMES)
RESOLUTION = 64
SUPERSAMPLE = 4

# Label PNG palette (K x RGB): distinct, legible colours, unrelated to the rendered colours.
PALETTE: np.ndarray = np.array(
    [
        [0, 0, 0],  # background
        [230, 180, 140],  # skin
        [110, 60, 20],  # hair
        [40, 90, 240],  # eye
        [240, 80, 200],  # nose
        [220, 20, 40],  # mouth
        [250, 220, 0],  # hat
        [30, 170, 60],  # clothes
    ],
    dtype=np.uint8,
)


@dataclass(frozen=True)
class ColourFamily:
    """A box in HSV: hue range in degrees (may pass 360), saturation and value ranges in [0, 1]."""

    hue: tuple[float, float]
    sat: tuple[float, float]
    val: tuple[float, float]


FAMILIES: tuple[ColourFamily, ...] = (
    ColourFamily(hue=(175.0, 235.0), sat=(0.10, 0.30), val=(0.74, 0.92)),  # background: pastel sky
    ColourFamily(hue=(18.0, 32.0), sat=(0.24, 0.42), val=(0.84, 0.96)),  # skin: peach
    ColourFamily(hue=(12.0, 34.0), sat=(0.50, 0.85), val=(0.16, 0.38)),  # hair: dark brown/black
    ColourFamily(hue=(205.0, 240.0), sat=(0.70, 0.95), val=(0.45, 0.70)),  # eye: deep blue
    ColourFamily(hue=(330.0, 350.0), sat=(0.38, 0.58), val=(0.82, 0.95)),  # nose: pink
    ColourFamily(hue=(352.0, 366.0), sat=(0.72, 0.92), val=(0.55, 0.75)),  # mouth: red
    ColourFamily(hue=(44.0, 56.0), sat=(0.72, 0.92), val=(0.86, 0.98)),  # hat: gold
    ColourFamily(hue=(100.0, 150.0), sat=(0.50, 0.80), val=(0.42, 0.70)),  # clothes: green
)


def hsv_to_rgb(hsv: np.ndarray) -> np.ndarray:
    """[..., 3] HSV (hue in degrees, s and v in [0, 1]) -> [..., 3] RGB in [0, 1]."""
    h = np.mod(hsv[..., 0], 360.0) / 60.0
    s, v = hsv[..., 1], hsv[..., 2]
    c = v * s
    x = c * (1.0 - np.abs(np.mod(h, 2.0) - 1.0))
    m = v - c
    sector = np.floor(h).astype(np.int64) % 6
    zero = np.zeros_like(c)
    table = np.stack(
        [
            np.stack([c, x, zero], -1),
            np.stack([x, c, zero], -1),
            np.stack([zero, c, x], -1),
            np.stack([zero, x, c], -1),
            np.stack([x, zero, c], -1),
            np.stack([c, zero, x], -1),
        ],
        0,
    )
    rgb = np.take_along_axis(table, sector[None, ..., None].repeat(3, -1), 0)[0]
    return rgb + m[..., None]


def sample_colours(rng: np.random.Generator) -> np.ndarray:
    """One colour per class, each from its family: [K, 3] RGB in [0, 1] (float32)."""
    lo = np.array([[f.hue[0], f.sat[0], f.val[0]] for f in FAMILIES])
    hi = np.array([[f.hue[1], f.sat[1], f.val[1]] for f in FAMILIES])
    hsv = lo + (hi - lo) * rng.random((K, 3))
    return hsv_to_rgb(hsv).astype(np.float32)

"""The classes of the toy-face domain (version 2), the label palette and the colour draws.

Colour does not decide the class. Face, neck, ears and nose share one skin tone (from very dark to
very pale); the nose shows only through its shading and nostrils; brows take the hair's colour;
lips are skin blended towards a lip tint; hats, clothes, the background and its clutter take any
colour, skin and hair tones included. What tells the classes apart is shape, position and context.
"""

from __future__ import annotations

import numpy as np

VERSION = 2
CLASS_NAMES: tuple[str, ...] = (
    "background",
    "skin",
    "neck",
    "ear",
    "hair",
    "brow",
    "eye",
    "nose",
    "lips",
    "glasses",
    "hat",
    "clothes",
)
K = len(CLASS_NAMES)
BG, SKIN, NECK, EAR, HAIR, BROW, EYE, NOSE, LIPS, GLASSES, HAT, CLOTHES = range(K)
RESOLUTION = 64
SUPERSAMPLE = 4

# Label PNG palette (K x RGB): distinct, legible colours, unrelated to the rendered colours.
PALETTE: np.ndarray = np.array(
    [
        [0, 0, 0],  # background
        [230, 180, 140],  # skin
        [150, 100, 60],  # neck
        [255, 120, 60],  # ear
        [110, 60, 20],  # hair
        [250, 250, 120],  # brow
        [40, 90, 240],  # eye
        [240, 80, 200],  # nose
        [220, 20, 40],  # lips
        [0, 230, 230],  # glasses
        [250, 220, 0],  # hat
        [30, 170, 60],  # clothes
    ],
    dtype=np.uint8,
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


def _hsv(h: float, s: float, v: float) -> np.ndarray:
    return hsv_to_rgb(np.array([h, s, v], dtype=np.float64)).astype(np.float32)


def skin_tone(rng: np.random.Generator) -> np.ndarray:
    """RGB [3] in [0, 1]: one draw from a ramp of skin tones, very dark to very pale."""
    t = rng.random()
    return _hsv(
        rng.uniform(14.0, 34.0),
        float(np.clip(0.58 - 0.3 * t + rng.normal(0.0, 0.05), 0.12, 0.75)),
        0.3 + 0.65 * t,
    )


# Natural hair colours as HSV boxes (hue deg, sat, val) with their weights; dyed hair is any hue.
_HAIR = (
    ((0.0, 40.0), (0.0, 0.4), (0.06, 0.2), 0.3),  # black
    ((18.0, 34.0), (0.45, 0.8), (0.18, 0.45), 0.3),  # brown
    ((36.0, 50.0), (0.35, 0.7), (0.6, 0.92), 0.15),  # blonde
    ((8.0, 22.0), (0.6, 0.9), (0.4, 0.7), 0.08),  # red
    ((0.0, 360.0), (0.0, 0.08), (0.5, 0.9), 0.07),  # grey / white
)


def hair_colour(rng: np.random.Generator) -> np.ndarray:
    """RGB [3]: a natural hair colour, or (10%) a dyed one of any hue."""
    if rng.random() < 0.1:
        return _hsv(rng.uniform(0.0, 360.0), rng.uniform(0.5, 0.9), rng.uniform(0.35, 0.9))
    weights = np.array([b[3] for b in _HAIR])
    hue, sat, val, _ = _HAIR[int(rng.choice(len(_HAIR), p=weights / weights.sum()))]
    return _hsv(rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val))


def any_colour(rng: np.random.Generator) -> np.ndarray:
    """RGB [3]: any hue; a third of the draws are skin or hair tones (clutter that looks like us)."""
    r = rng.random()
    if r < 0.17:
        return skin_tone(rng)
    if r < 0.33:
        return hair_colour(rng)
    return _hsv(rng.uniform(0.0, 360.0), rng.uniform(0.0, 0.9), rng.uniform(0.12, 0.95))


def iris_colour(rng: np.random.Generator) -> np.ndarray:
    """RGB [3]: brown, blue, green or grey."""
    boxes = (((18, 35), (0.5, 0.9), (0.15, 0.45)), ((195, 225), (0.35, 0.8), (0.35, 0.7)),
             ((80, 140), (0.3, 0.7), (0.3, 0.6)), ((0, 360), (0.0, 0.1), (0.35, 0.65)))  # fmt: skip
    hue, sat, val = boxes[int(rng.choice(4, p=[0.5, 0.25, 0.15, 0.1]))]
    return _hsv(rng.uniform(*hue), rng.uniform(*sat), rng.uniform(*val))


def lip_colour(rng: np.random.Generator, skin: np.ndarray) -> np.ndarray:
    """RGB [3]: the skin tone blended towards a lip tint (pink, red or brown), a little darker."""
    tint = _hsv(rng.uniform(-20.0, 20.0), rng.uniform(0.35, 0.75), rng.uniform(0.35, 0.85))
    a = rng.uniform(0.25, 0.65)
    return ((1.0 - a) * skin + a * tint) * rng.uniform(0.8, 0.95)

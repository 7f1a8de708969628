"""The toy-face renderer: a seed -> a 64x64 RGB image and its exact label mask.

Faces are painted back to front at 4x resolution (256x256) as analytic shapes in face coordinates
(rotated, shifted and scaled with the head), coloured from per-class colour families with smooth
low-amplitude texture and directional shading, then box-downsampled. The mask at 64x64 is the class
covering most of each 4x4 block of the supersampled label map (ties go to the block's centre), so mask
and image agree. Everything is vectorised numpy; each image is a pure function of its seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from datasetgan.toyfaces.domain import RESOLUTION, SUPERSAMPLE, K, sample_colours

HI = RESOLUTION * SUPERSAMPLE
BG, SKIN, HAIR, EYE, NOSE, MOUTH, HAT, CLOTHES = range(8)

# Texture amplitude (smooth noise) and shading amplitude (directional light) per class.
_TEXTURE = np.array([0.05, 0.035, 0.07, 0.03, 0.03, 0.03, 0.04, 0.06], dtype=np.float32)
_SHADING = np.array([0.0, 0.07, 0.08, 0.0, 0.04, 0.0, 0.06, 0.06], dtype=np.float32)


@dataclass(frozen=True)
class Sample:
    """One rendered face: image [H, W, 3] uint8, mask [H, W] uint8 (class indices), its seed."""

    image: np.ndarray
    mask: np.ndarray
    seed: int


@dataclass(frozen=True)
class Pose:
    """Head placement in image units ([0, 1] across): centre, half-width, height/width, roll."""

    cx: float
    cy: float
    r: float
    aspect: float
    angle: float


def _grid() -> tuple[np.ndarray, np.ndarray]:
    t = ((np.arange(HI, dtype=np.float32) + 0.5) / HI).astype(np.float32)
    return np.meshgrid(t, t, indexing="xy")


_xs, _ys = _grid()


def _sample_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        cx=float(rng.uniform(0.43, 0.57)),
        cy=float(rng.uniform(0.42, 0.52)),
        r=float(rng.uniform(0.2, 0.25)),
        aspect=float(rng.uniform(1.1, 1.3)),
        angle=float(rng.uniform(-0.26, 0.26)),
    )


def _face_coords(pose: Pose) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel (u, v) in head units: u across (right +), v down, 1 = head half-width."""
    dx, dy = _xs - pose.cx, _ys - pose.cy
    c, s, r = float(np.cos(pose.angle)), float(np.sin(pose.angle)), pose.r
    return (dx * c + dy * s) / r, (-dx * s + dy * c) / r


def _ellipse(
    u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float
) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def _smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """[HI, HI] smooth noise of unit-ish amplitude: a cells x cells Gaussian grid, bilinearly upsampled."""
    g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = (np.arange(HI, dtype=np.float32) + 0.5) / HI * cells
    i0 = np.minimum(np.floor(pos).astype(np.int64), cells - 1)
    f = (pos - i0).astype(np.float32)
    rows = g[i0] * (1.0 - f)[:, None] + g[i0 + 1] * f[:, None]  # [HI, cells + 1]
    return rows[:, i0] * (1.0 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def _paint_body(lab: np.ndarray, pose: Pose, rng: np.random.Generator) -> None:
    """Clothes (shoulders) and the neck; upright, whatever the head's roll."""
    r = pose.r
    bottom = pose.cy + pose.aspect * r + rng.uniform(0.35, 0.6) * r
    sw = rng.uniform(1.5, 1.9) * r
    bx = (_xs - pose.cx) / sw
    by = (_ys - bottom) / (0.6 * r)
    lab[(bx**2 + by**2 <= 1.0) | ((by > 0) & (np.abs(bx) <= 1.0))] = CLOTHES
    neck_w = rng.uniform(0.38, 0.5) * r
    neck = (np.abs(_xs - pose.cx) <= neck_w) & (_ys >= pose.cy) & (_ys <= bottom + 0.1 * r)
    lab[neck] = SKIN
    # collar: a V of clothes over the neck base
    collar = (_ys >= bottom - 0.25 * r) & (np.abs(_xs - pose.cx) >= (bottom + 0.2 * r - _ys) * 0.8)
    lab[neck & collar] = CLOTHES


def _hairline(u: np.ndarray, a: float, rng: np.random.Generator) -> np.ndarray:
    """v of the fringe edge at each u (hair above it): a curve with a random part and waviness."""
    height = rng.uniform(0.3, 0.6)
    tilt = rng.uniform(-0.18, 0.18)
    wave = rng.uniform(0.0, 0.08)
    freq = rng.uniform(5.0, 9.0)
    return a * (-height + 0.35 * u**2 + tilt * u + wave * np.sin(freq * u))


def _paint_hair_back(lab: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, style: int) -> None:
    """Hair behind the head: 0 short cap, 1 long, 2 bob, 3 none."""
    if style == 3:
        return
    cap = _ellipse(u, v, 0.0, -0.08 * a, 1.14, 1.1 * a)
    if style == 0:
        lab[cap & (v <= 0.1 * a)] = HAIR
    elif style == 1:
        long = (np.abs(u) <= 1.18) & (v >= -0.1 * a) & (v <= 1.35 * a)
        lab[cap | long] = HAIR
    else:
        bob = _ellipse(u, v, 0.0, 0.1 * a, 1.22, 1.05 * a) & (v <= 0.75 * a)
        lab[cap | bob] = HAIR


def _paint_head(
    lab: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, rng: np.random.Generator
) -> None:
    """Ears and the egg-shaped face (skin)."""
    ear_v = rng.uniform(-0.05, 0.15) * a
    ear_r = rng.uniform(0.16, 0.22)
    for side in (-1.0, 1.0):
        lab[_ellipse(u, v, side * 0.98, ear_v, ear_r, 1.5 * ear_r)] = SKIN
    chin = rng.uniform(0.08, 0.25)
    width = 1.0 - chin * np.clip(v / a, 0.0, 1.0) ** 2
    lab[(u / width) ** 2 + (v / a) ** 2 <= 1.0] = SKIN


def _paint_fringe(
    lab: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, style: int, rng: np.random.Generator
) -> None:
    if style == 3:
        return
    cap = _ellipse(u, v, 0.0, -0.08 * a, 1.1, 1.1 * a)
    lab[cap & (v <= _hairline(u, a, rng))] = HAIR


def _paint_features(
    lab: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, rng: np.random.Generator
) -> np.ndarray:
    """Eyes, nose, mouth. Returns [HI, HI] float32 darkening of the pupils (0 elsewhere)."""
    ex, ey = rng.uniform(0.34, 0.45), rng.uniform(-0.12, 0.06) * a
    erx, ery = rng.uniform(0.17, 0.23), rng.uniform(0.13, 0.19)
    look = rng.uniform(-0.35, 0.35, size=2)
    pupil = np.zeros(lab.shape, dtype=np.float32)
    for side in (-1.0, 1.0):
        eye = _ellipse(u, v, side * ex, ey, erx, ery)
        lab[eye] = EYE
        d2 = ((u - side * ex - look[0] * erx) / (0.5 * erx)) ** 2 + (
            (v - ey - look[1] * ery) / (0.6 * ery)
        ) ** 2
        pupil[eye & (d2 <= 1.0)] = 0.3
    ny = rng.uniform(0.16, 0.3) * a
    lab[_ellipse(u, v, 0.0, ny, rng.uniform(0.12, 0.17), rng.uniform(0.13, 0.19))] = NOSE
    my = rng.uniform(0.5, 0.62) * a
    mw, mh = rng.uniform(0.3, 0.45), rng.uniform(0.18, 0.26)
    cut = rng.uniform(-0.35, 0.1)
    lab[_ellipse(u, v, 0.0, my, mw, mh) & (v >= my + cut * mh)] = MOUTH
    return pupil


def _paint_hat(
    lab: np.ndarray, u: np.ndarray, v: np.ndarray, a: float, rng: np.random.Generator
) -> None:
    brim_v = -rng.uniform(0.5, 0.7) * a
    top = brim_v - rng.uniform(0.5, 0.8) * a
    hw = rng.uniform(0.7, 0.95)
    crown = (np.abs(u) <= hw) & (v <= brim_v) & _ellipse(u, v, 0.0, brim_v, hw * 1.05, brim_v - top)
    lab[crown] = HAT
    lab[_ellipse(u, v, 0.0, brim_v, rng.uniform(1.2, 1.45), rng.uniform(0.1, 0.16))] = HAT


def paint_labels(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The supersampled scene: labels [HI, HI] uint8, pupil darkening, face coordinates (u, v)."""
    pose = _sample_pose(rng)
    lab = np.zeros((HI, HI), dtype=np.uint8)
    u, v = _face_coords(pose)
    a = pose.aspect
    style = int(rng.choice(4, p=[0.35, 0.3, 0.25, 0.1]))
    with_hat = bool(rng.random() < 0.35)
    _paint_hair_back(lab, u, v, a, style)
    _paint_body(lab, pose, rng)
    _paint_head(lab, u, v, a, rng)
    _paint_fringe(lab, u, v, a, style, rng)
    pupil = _paint_features(lab, u, v, a, rng)
    if with_hat:
        _paint_hat(lab, u, v, a, rng)
    return lab, pupil, u, v


def colourise(
    lab: np.ndarray, pupil: np.ndarray, u: np.ndarray, v: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """[HI, HI, 3] float32 RGB in [0, 1] of a label map: family colours, texture, shading."""
    base = sample_colours(rng)
    noise = 0.7 * _smooth_noise(rng, 6) + 0.5 * _smooth_noise(rng, 16)
    light = rng.standard_normal(2).astype(np.float32)
    light /= np.linalg.norm(light) + 1e-6
    shade = np.clip((u * light[0] + v * light[1]) * 0.8, -1.0, 1.0)
    grad = (_ys - 0.5) * rng.uniform(-0.12, 0.12)
    mult = 1.0 + _TEXTURE[lab] * noise + _SHADING[lab] * shade - pupil
    mult += np.where(lab == 0, grad, 0.0).astype(np.float32)
    rgb = base[lab] * mult[..., None]
    return np.clip(rgb, 0.0, 1.0)


def _block_weights() -> tuple[np.ndarray, np.ndarray]:
    """Per supersampled pixel: its 64x64 block index, and its vote (centre 2x2 slightly heavier)."""
    f, n = SUPERSAMPLE, RESOLUTION
    i = np.arange(HI) // f
    block = (i[:, None] * n + i[None, :]).astype(np.int64)
    j = np.arange(HI) % f
    centre = (j >= f // 2 - 1) & (j <= f // 2)
    vote = 1.0 + 0.01 * (centre[:, None] & centre[None, :])
    return block.ravel() * K, vote.ravel()


_BLOCK, _VOTE = _block_weights()


def downsample(rgb: np.ndarray, lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Supersampled RGB [HI, HI, 3] and labels [HI, HI] -> image [64, 64, 3] uint8, mask [64, 64] uint8.

    The image is the 4x4 box mean; the mask is each block's plurality class (ties -> the centre's).
    """
    f, n = SUPERSAMPLE, RESOLUTION
    img = rgb.reshape(n, f, n, f, 3).mean(axis=(1, 3))
    image = np.clip(np.rint(img * 255.0), 0, 255).astype(np.uint8)
    counts = np.bincount(_BLOCK + lab.ravel(), weights=_VOTE, minlength=n * n * K)
    return image, counts.reshape(n, n, K).argmax(-1).astype(np.uint8)


def render(seed: int) -> Sample:
    """The face of `seed` (any int >= 0): image [64, 64, 3] uint8 and exact mask [64, 64] uint8."""
    if seed < 0:
        raise ValueError(f"got seed {seed}, expected an integer >= 0")
    rng = np.random.default_rng(seed)
    lab, pupil, u, v = paint_labels(rng)
    rgb = colourise(lab, pupil, u, v, rng)
    image, mask = downsample(rgb, lab)
    return Sample(image=image, mask=mask, seed=int(seed))


def render_batch(seeds: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Faces of `seeds`: images [N, 64, 64, 3] uint8, masks [N, 64, 64] uint8."""
    samples = [render(int(s)) for s in seeds]
    if not samples:
        shape = (0, RESOLUTION, RESOLUTION)
        return np.zeros((*shape, 3), dtype=np.uint8), np.zeros(shape, dtype=np.uint8)
    return np.stack([s.image for s in samples]), np.stack([s.mask for s in samples])

"""The toy-face renderer (version 2): a seed -> a 64x64 RGB image and its exact label mask.

A scene (:mod:`toyfaces.scene`, :mod:`toyfaces.features`) is painted at 4x resolution (256x256):
a class and a material per pixel. Colouring draws one colour per material for this image (skin
tones, hair colours, any colour for clothes, hats and clutter), adds smooth texture, hair strands,
sphere shading of the head under one light, and a camera (white balance, exposure, contrast). The
image is the 4x4 box mean; the mask is each 4x4 block's plurality class (ties go to the block's
centre), so mask and image agree. Everything is vectorised numpy; each image is a pure function of
its seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from datasetgan.toyfaces import features as ft
from datasetgan.toyfaces.domain import (
    RESOLUTION,
    SUPERSAMPLE,
    K,
    any_colour,
    hair_colour,
    iris_colour,
    lip_colour,
    skin_tone,
)
from datasetgan.toyfaces.scene import (
    HI,
    M_BG,
    M_BROW,
    M_CLOTH,
    M_CLOTH2,
    M_COLLAR,
    M_EAR,
    M_FRAME,
    M_HAIR,
    M_HAT,
    M_HATBAND,
    M_IRIS,
    M_LIPLINE,
    M_LIPS,
    M_NECK,
    M_NOSTRIL,
    M_OCCLUDER,
    M_PUPIL,
    M_SCLERA,
    M_SKIN,
    N_CLUTTER,
    N_MATERIALS,
    YS,
    Scene,
    paint_body,
    paint_clutter,
    paint_hair,
    paint_head,
    sample_pose,
)

HAIR_STYLES = ("short", "long", "bob", "bun", "none")
_HAIR_P = (0.3, 0.3, 0.2, 0.1, 0.1)
_HEAD_MATERIALS = (M_SKIN, M_EAR, M_HAIR, M_BROW, M_SCLERA, M_IRIS, M_PUPIL, M_LIPS, M_LIPLINE,
                   M_NOSTRIL, M_HAT, M_HATBAND)  # fmt: skip
# Smooth-noise texture amplitude per material (hair and brows also get strands).
_TEXTURE = np.full(N_MATERIALS, 0.05, dtype=np.float32)
_TEXTURE[[M_SKIN, M_NECK, M_EAR, M_LIPS]] = 0.03
_TEXTURE[[M_SCLERA, M_PUPIL, M_FRAME, M_LIPLINE, M_NOSTRIL]] = 0.015
_TEXTURE[[M_HAIR, M_HAT, M_CLOTH, M_CLOTH2]] = 0.08


@dataclass(frozen=True)
class Sample:
    """One rendered face: image [H, W, 3] uint8, mask [H, W] uint8 (class indices), its seed."""

    image: np.ndarray
    mask: np.ndarray
    seed: int


def paint(rng: np.random.Generator) -> tuple[Scene, np.ndarray]:
    """The supersampled scene of one draw, back to front, and its light direction [3]."""
    pose = sample_pose(rng)
    sc = Scene.empty(pose)
    sc.hair_style = HAIR_STYLES[int(rng.choice(len(HAIR_STYLES), p=_HAIR_P))]
    light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 0.5), rng.uniform(0.4, 1.0)])
    light = (light / np.linalg.norm(light)).astype(np.float32)
    paint_clutter(sc, rng)
    paint_hair(sc, rng, back=True)
    paint_body(sc, rng)
    paint_head(sc, rng)
    eyes = ft.paint_eyes(sc, rng)
    ft.paint_nose(sc, eyes, rng, float(light[0]))
    ft.paint_brows(sc, eyes, rng)
    ft.paint_lips(sc, rng)
    paint_hair(sc, rng, back=False)
    if rng.random() < 0.35:
        ft.paint_glasses(sc, eyes, rng)
    if rng.random() < 0.3:
        ft.paint_hat(sc, rng)
    if rng.random() < 0.15:
        ft.paint_occluder(sc, rng)
    return sc, light


def material_colours(rng: np.random.Generator) -> np.ndarray:
    """[N_MATERIALS, 3] RGB in [0, 1]: this image's colour for every material."""
    c = np.zeros((N_MATERIALS, 3), dtype=np.float32)
    c[M_BG] = any_colour(rng)
    for i in range(N_CLUTTER):
        c[1 + i] = any_colour(rng)
    skin, hair = skin_tone(rng), hair_colour(rng)
    c[M_SKIN], c[M_NECK] = skin, skin * rng.uniform(0.85, 0.97)
    c[M_EAR] = skin * np.array([1.0, 0.93, 0.9]) * rng.uniform(0.9, 1.0)
    c[M_NOSTRIL] = skin * rng.uniform(0.35, 0.55)
    c[M_HAIR] = hair
    c[M_BROW] = hair * rng.uniform(0.65, 0.95) if rng.random() < 0.85 else hair_colour(rng) * 0.8
    c[M_SCLERA] = np.array([0.92, 0.9, 0.86]) * rng.uniform(0.82, 1.0)
    c[M_IRIS], c[M_PUPIL] = iris_colour(rng), rng.uniform(0.02, 0.1)
    c[M_LIPS] = lip_colour(rng, skin)
    c[M_LIPLINE] = c[M_LIPS] * rng.uniform(0.35, 0.6)
    frame = rng.random()
    c[M_FRAME] = rng.uniform(0.03, 0.15) if frame < 0.45 else (
        rng.uniform(0.55, 0.8) if frame < 0.7 else any_colour(rng))  # fmt: skip
    c[M_HAT], c[M_HATBAND] = any_colour(rng), any_colour(rng)
    c[M_CLOTH], c[M_CLOTH2] = any_colour(rng), any_colour(rng)
    c[M_COLLAR] = rng.uniform(0.85, 0.97) if rng.random() < 0.5 else any_colour(rng)
    c[M_OCCLUDER] = any_colour(rng)
    return np.clip(c, 0.0, 1.0)


def smooth_noise(rng: np.random.Generator, cells: int) -> np.ndarray:
    """[HI, HI] smooth noise of unit-ish amplitude: a cells x cells Gaussian grid, bilinearly upsampled."""
    g = rng.standard_normal((cells + 1, cells + 1)).astype(np.float32)
    pos = (np.arange(HI, dtype=np.float32) + 0.5) / HI * cells
    i0 = np.minimum(np.floor(pos).astype(np.int64), cells - 1)
    f = (pos - i0).astype(np.float32)
    rows = g[i0] * (1.0 - f)[:, None] + g[i0 + 1] * f[:, None]  # [HI, cells + 1]
    return rows[:, i0] * (1.0 - f)[None, :] + rows[:, i0 + 1] * f[None, :]


def _head_light(sc: Scene, light: np.ndarray, strength: float) -> np.ndarray:
    """[HI, HI] Lambert shading of the head as an ellipsoid (1 where the light is straight on)."""
    nu, nv = sc.u / 1.1, (sc.v + 0.05) / (1.1 * sc.pose.aspect)
    nz = np.sqrt(np.clip(1.0 - nu**2 - nv**2, 0.03, 1.0))
    lam = np.clip(
        (nu * light[0] + nv * light[1] + nz * light[2]) / np.sqrt(nu**2 + nv**2 + nz**2), 0, 1
    )
    return (1.0 - strength) + strength * 1.3 * lam


def colourise(sc: Scene, light: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """[HI, HI, 3] float32 RGB in [0, 1] of a painted scene."""
    colours = material_colours(rng)
    noise = 0.7 * smooth_noise(rng, 6) + 0.5 * smooth_noise(rng, 20)
    mult = sc.shade * (1.0 + _TEXTURE[sc.mat] * noise * rng.uniform(0.6, 1.6))
    for material, shade in sc.material_shade.items():
        mult[sc.mat == material] *= shade[sc.mat == material]
    head = np.isin(sc.mat, _HEAD_MATERIALS)
    mult[head] *= _head_light(sc, light, rng.uniform(0.15, 0.45))[head]
    flow = rng.uniform(-0.4, 0.4)
    strands = np.sin(
        rng.uniform(25, 45) * (sc.u * np.cos(flow) + sc.v * np.sin(flow)) + 2.5 * noise
    )
    hairy = (sc.mat == M_HAIR) | (sc.mat == M_BROW)
    mult[hairy] *= 1.0 + rng.uniform(0.08, 0.22) * strands[hairy]
    mult[sc.mat == M_BG] *= 1.0 + rng.uniform(-0.25, 0.25) * (YS[sc.mat == M_BG] - 0.5)
    rgb = colours[sc.mat] * mult[..., None] * sc.tint
    gain = rng.uniform(0.88, 1.12, size=3).astype(np.float32) * rng.uniform(0.85, 1.15)
    contrast = rng.uniform(0.85, 1.15)
    return np.clip((rgb * gain - 0.5) * contrast + 0.5, 0.0, 1.0)


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
    """The face of ``seed`` (any int >= 0): image [64, 64, 3] uint8 and exact mask [64, 64] uint8."""
    if seed < 0:
        raise ValueError(f"got seed {seed}, expected an integer >= 0")
    rng = np.random.default_rng(seed)
    sc, light = paint(rng)
    image, mask = downsample(colourise(sc, light, rng), sc.lab)
    return Sample(image=image, mask=mask, seed=int(seed))


def render_batch(seeds: Iterable[int]) -> tuple[np.ndarray, np.ndarray]:
    """Faces of ``seeds``: images [N, 64, 64, 3] uint8, masks [N, 64, 64] uint8."""
    samples = [render(int(s)) for s in seeds]
    if not samples:
        shape = (0, RESOLUTION, RESOLUTION)
        return np.zeros((*shape, 3), dtype=np.uint8), np.zeros(shape, dtype=np.uint8)
    return np.stack([s.image for s in samples]), np.stack([s.mask for s in samples])


def render_parallel(seeds: Sequence[int], workers: int) -> tuple[np.ndarray, np.ndarray]:
    """``render_batch(seeds)`` split over ``workers`` processes (spawned); the same arrays."""
    seeds = [int(s) for s in seeds]
    if workers <= 1 or len(seeds) < 2 * workers:
        return render_batch(seeds)
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    size = -(-len(seeds) // (4 * workers))  # 4 chunks a worker: an even finish
    chunks = [seeds[i : i + size] for i in range(0, len(seeds), size)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        parts = list(pool.map(render_batch, chunks))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

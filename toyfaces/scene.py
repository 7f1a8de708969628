"""The geometry of a toy-face scene: what class and what material every supersampled pixel holds.

A scene is painted back to front on a [HI, HI] grid (HI = 4 x 64): background clutter, hair behind
the head, clothes and neck, ears, the face, nose, eyes, brows, lips, the fringe and loose strands
over the face, glasses, a hat, and sometimes an object in front of the person. Each painter writes
the class (``lab``) and the material (``mat``: which of the image's colours) of the pixels it covers,
and may darken or tint them (``shade``, ``tint``); :mod:`toyfaces.renderer` turns that into colour.

Head geometry lives in face coordinates (u across, v down, 1 = the head's half-width), rolled,
shifted and scaled with the head; yaw moves each feature by its depth (the nose, standing out, moves
most) and foreshortens it, so left and right differ in the image as they do on a turning head.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasetgan.toyfaces.domain import (
    CLOTHES,
    EAR,
    HAIR,
    NECK,
    RESOLUTION,
    SKIN,
    SUPERSAMPLE,
)

HI = RESOLUTION * SUPERSAMPLE
N_CLUTTER = 6
# Materials: indices into an image's colour table (see renderer.material_colours).
(M_BG, *_M_CLUTTER) = range(N_CLUTTER + 1)
(M_SKIN, M_NECK, M_EAR, M_HAIR, M_BROW, M_SCLERA, M_IRIS, M_PUPIL, M_LIPS, M_LIPLINE, M_NOSTRIL,
 M_FRAME, M_HAT, M_HATBAND, M_CLOTH, M_CLOTH2, M_COLLAR, M_OCCLUDER) = range(N_CLUTTER + 1, N_CLUTTER + 19)  # fmt: skip
N_MATERIALS = N_CLUTTER + 19


def _grid() -> tuple[np.ndarray, np.ndarray]:
    t = ((np.arange(HI, dtype=np.float32) + 0.5) / HI).astype(np.float32)
    return np.meshgrid(t, t, indexing="xy")


XS, YS = _grid()  # [HI, HI] image coordinates in [0, 1]


@dataclass(frozen=True)
class Pose:
    """Head placement: centre (image units), half-width r, height/width, roll and yaw (radians)."""

    cx: float
    cy: float
    r: float
    aspect: float
    roll: float
    yaw: float

    def project(self, u_front: float, depth: float) -> float:
        """Image-plane u of a point at ``u_front`` across a frontal face and ``depth`` out of it."""
        return u_front * float(np.cos(self.yaw)) + depth * float(np.sin(self.yaw))

    def foreshorten(self, u_front: float) -> float:
        """Horizontal scale of a small feature at ``u_front`` (1 facing the viewer)."""
        depth = max(float(np.sqrt(max(1.0 - u_front**2, 0.0))), 0.3)
        slope = float(np.cos(self.yaw)) - u_front / depth * float(np.sin(self.yaw))
        return float(np.clip(slope, 0.35, 1.2))


def sample_pose(rng: np.random.Generator) -> Pose:
    return Pose(
        cx=float(rng.uniform(0.38, 0.62)),
        cy=float(rng.uniform(0.36, 0.54)),
        r=float(rng.uniform(0.19, 0.28)),
        aspect=float(rng.uniform(1.15, 1.35)),
        roll=float(rng.uniform(-0.42, 0.42)),
        yaw=float(rng.uniform(-0.45, 0.45)),
    )


@dataclass
class Scene:
    """The canvas painters write to: class and material per pixel, shading, lens tint."""

    pose: Pose
    u: np.ndarray  # [HI, HI] face coordinates
    v: np.ndarray
    lab: np.ndarray  # [HI, HI] uint8 class
    mat: np.ndarray  # [HI, HI] uint8 material
    shade: np.ndarray  # [HI, HI] float32 multiplier
    tint: np.ndarray  # [HI, HI, 3] float32 multiplier (glasses lenses)
    material_shade: dict[int, np.ndarray]  # material -> [HI, HI] multiplier where it ends up
    hair_style: str = "none"

    @classmethod
    def empty(cls, pose: Pose) -> Scene:
        dx, dy = XS - pose.cx, YS - pose.cy
        c, s = float(np.cos(pose.roll)), float(np.sin(pose.roll))
        u, v = (dx * c + dy * s) / pose.r, (-dx * s + dy * c) / pose.r
        shape = (HI, HI)
        return cls(pose, u, v, np.zeros(shape, np.uint8), np.zeros(shape, np.uint8),
                   np.ones(shape, np.float32), np.ones((*shape, 3), np.float32), {})  # fmt: skip

    def paint(self, where: np.ndarray, label: int, material: int) -> None:
        self.lab[where] = label
        self.mat[where] = material


def ellipse(u: np.ndarray, v: np.ndarray, cu: float, cv: float, ru: float, rv: float) -> np.ndarray:
    return ((u - cu) / ru) ** 2 + ((v - cv) / rv) ** 2 <= 1.0


def rotated(
    x: np.ndarray, y: np.ndarray, cx: float, cy: float, angle: float
) -> tuple[np.ndarray, np.ndarray]:
    """Coordinates of (x, y) in a frame centred at (cx, cy) and turned by ``angle``."""
    c, s = float(np.cos(angle)), float(np.sin(angle))
    dx, dy = x - cx, y - cy
    return dx * c + dy * s, -dx * s + dy * c


def paint_clutter(sc: Scene, rng: np.random.Generator) -> None:
    """2-7 shapes behind the person (ellipses, boxes, bands) in the clutter materials."""
    for i in range(int(rng.integers(2, 8))):
        kind = int(rng.integers(3))
        cx, cy, angle = rng.uniform(-0.1, 1.1), rng.uniform(-0.1, 1.1), rng.uniform(0, np.pi)
        x, y = rotated(XS, YS, cx, cy, angle)
        if kind == 0:
            where = (x / rng.uniform(0.04, 0.3)) ** 2 + (y / rng.uniform(0.04, 0.3)) ** 2 <= 1.0
        elif kind == 1:
            where = (np.abs(x) <= rng.uniform(0.04, 0.3)) & (np.abs(y) <= rng.uniform(0.04, 0.3))
        else:
            where = np.abs(y) <= rng.uniform(0.01, 0.05)
        sc.paint(where, 0, 1 + i % N_CLUTTER)


def _hair_back(sc: Scene, rng: np.random.Generator) -> None:
    """Hair behind the head for the long, bob and bun styles."""
    u, v, a = sc.u, sc.v, sc.pose.aspect
    cap = ellipse(u, v, 0.0, -0.08 * a, 1.15, 1.1 * a)
    if sc.hair_style == "long":
        length = rng.uniform(1.1, 1.7) * a
        width = rng.uniform(1.12, 1.35)
        sc.paint(cap | ((np.abs(u) <= width) & (v >= -0.1 * a) & (v <= length)), HAIR, M_HAIR)
    elif sc.hair_style == "bob":
        bob = ellipse(u, v, 0.0, 0.1 * a, rng.uniform(1.2, 1.35), 1.05 * a) & (v <= 0.7 * a)
        sc.paint(cap | bob, HAIR, M_HAIR)
    elif sc.hair_style == "bun":
        side = rng.choice([-1.0, 0.0, 1.0])
        sc.paint(cap | ellipse(u, v, 0.5 * side, -1.15 * a, 0.42, 0.36), HAIR, M_HAIR)


def paint_body(sc: Scene, rng: np.random.Generator) -> None:
    """Clothes (shoulders, a pattern, a collar) and the neck, leaning a little with the head."""
    p = sc.pose
    lean = 0.4 * p.roll
    bottom = p.cy + (p.aspect + rng.uniform(0.3, 0.6)) * p.r
    x, y = rotated(XS, YS, p.cx + 0.3 * p.r * np.sin(p.roll), bottom, lean)
    sw = rng.uniform(1.5, 2.1) * p.r
    bx, by = x / sw, y / (0.6 * p.r)
    body = (bx**2 + by**2 <= 1.0) | ((by > 0) & (np.abs(bx) <= 1.0 + 0.3 * by))
    neck_w = rng.uniform(0.36, 0.5) * p.r
    neck = (np.abs(x) <= neck_w) & (y <= 0.1 * p.r) & (sc.v >= 0.0)
    sc.paint(neck, NECK, M_NECK)
    chin_gap = (y + 0.25 * p.r) / (0.6 * p.r)  # shadow under the chin, lighter towards the body
    sc.material_shade[M_NECK] = np.clip(0.72 + 0.2 * chin_gap, 0.7, 0.95).astype(np.float32)
    pattern = _cloth_pattern(x / p.r, y / p.r, rng)
    sc.paint(body & ~pattern, CLOTHES, M_CLOTH)
    sc.paint(body & pattern, CLOTHES, M_CLOTH2)
    depth = rng.uniform(0.25, 0.6) * p.r
    collar_kind = int(rng.integers(3))
    if collar_kind == 0:  # V neck: skin (neck) shows inside the V
        vee = (y <= depth) & (np.abs(x) <= (depth - y) * 0.8) & (y >= -0.3 * p.r)
        sc.paint(body & vee, NECK, M_NECK)
    elif collar_kind == 1:  # a shirt collar in its own colour
        band = (np.abs(y + 0.05 * p.r - 0.3 * np.abs(x)) <= 0.12 * p.r) & (np.abs(x) <= 0.9 * sw)
        sc.paint(body & band, CLOTHES, M_COLLAR)
    side = float(rng.choice([-1.0, 1.0]))
    cylinder = (1.0 + 0.12 * side * np.clip(bx, -1.0, 1.0)).astype(np.float32)
    for m in (M_CLOTH, M_CLOTH2, M_COLLAR):
        sc.material_shade[m] = cylinder


def _cloth_pattern(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Where the second cloth colour goes: nothing, stripes, checks or dots (body units)."""
    kind = int(rng.choice(4, p=[0.4, 0.3, 0.15, 0.15]))
    if kind == 0:
        return np.zeros(x.shape, dtype=bool)
    angle, period = rng.uniform(0, np.pi), rng.uniform(0.25, 0.55)
    a = (x * np.cos(angle) + y * np.sin(angle)) / period
    b = (-x * np.sin(angle) + y * np.cos(angle)) / period
    if kind == 1:
        return np.mod(a, 1.0) < rng.uniform(0.3, 0.6)
    if kind == 2:
        return (np.mod(a, 1.0) < 0.5) ^ (np.mod(b, 1.0) < 0.5)
    return (np.mod(a, 1.0) - 0.5) ** 2 + (np.mod(b, 1.0) - 0.5) ** 2 < 0.06


def paint_head(sc: Scene, rng: np.random.Generator) -> None:
    """Ears (drawn first, so the face hides the far one as the head turns) and the face."""
    p, u, v, a = sc.pose, sc.u, sc.v, sc.pose.aspect
    ear_v, ear_r = rng.uniform(-0.05, 0.15) * a, rng.uniform(0.2, 0.27)
    for side in (-1.0, 1.0):
        angle = side * np.deg2rad(96.0) + p.yaw
        if abs(angle) > np.deg2rad(125.0):
            continue  # far behind the head
        cu = float(np.sin(angle)) * 1.0
        ru = ear_r * max(float(np.cos(angle - side * np.pi / 2)), 0.55)
        sc.paint(ellipse(u, v, cu, ear_v, ru, 1.6 * ear_r), EAR, M_EAR)
    chin = rng.uniform(0.08, 0.28)
    jaw = u - 0.3 * float(np.sin(p.yaw)) * np.clip(v / a, 0.0, 1.0) ** 2
    width = 1.0 - chin * np.clip(v / a, 0.0, 1.0) ** 2
    sc.paint((jaw / width) ** 2 + (v / a) ** 2 <= 1.0, SKIN, M_SKIN)


def paint_hair(sc: Scene, rng: np.random.Generator, *, back: bool) -> None:
    """Hair behind the head (``back``), or the fringe and loose strands in front of the face."""
    if sc.hair_style == "none":
        return
    if back:
        _hair_back(sc, rng)
        return
    u, v, a = sc.u, sc.v, sc.pose.aspect
    cap = ellipse(u, v, 0.0, -0.08 * a, 1.1, 1.1 * a)
    height, tilt = rng.uniform(0.3, 0.68), rng.uniform(-0.2, 0.2)
    wave, freq = rng.uniform(0.0, 0.09), rng.uniform(5.0, 10.0)
    line = a * (-height + 0.35 * u**2 + tilt * u + wave * np.sin(freq * u))
    sc.paint(cap & (v <= line), HAIR, M_HAIR)
    if sc.hair_style == "long" and rng.random() < 0.45:  # a strand falling over one cheek
        side = float(rng.choice([-1.0, 1.0]))
        centre = side * rng.uniform(0.6, 0.85) + 0.1 * np.sin(3.0 * v)
        strand = (np.abs(u - centre) <= rng.uniform(0.1, 0.2)) & (v >= -0.6 * a) & (v <= 0.9 * a)
        sc.paint(strand, HAIR, M_HAIR)

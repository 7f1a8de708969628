"""The small parts of a toy face: eyes, brows, nose, lips, glasses, hat, and an occluding object.

Each painter places its part in face coordinates (see :mod:`toyfaces.scene`), moved and
foreshortened by the head's yaw. Sizes are in head half-widths; at 64 px a head is 24-36 px wide,
so a brow is 2.5-5 px thick, an eye 2.5-4.5 px tall and a glasses frame 1.2-2.5 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from datasetgan.toyfaces.domain import BG, BROW, EYE, GLASSES, HAT, LIPS, NOSE, SKIN
from datasetgan.toyfaces.scene import (
    M_BROW,
    M_FRAME,
    M_HAT,
    M_HATBAND,
    M_IRIS,
    M_LIPLINE,
    M_LIPS,
    M_NOSTRIL,
    M_OCCLUDER,
    M_PUPIL,
    M_SCLERA,
    XS,
    YS,
    Scene,
    ellipse,
    rotated,
)


@dataclass(frozen=True)
class Eyes:
    """Where the eyes are (frontal face units): centre offset, height, radii."""

    ex: float
    ey: float
    rx: float
    ry: float


def paint_eyes(sc: Scene, rng: np.random.Generator) -> Eyes:
    """Two almond eyes: sclera, iris, pupil and a dark lash line, all of class eye."""
    a = sc.pose.aspect
    eyes = Eyes(rng.uniform(0.33, 0.43), rng.uniform(-0.15, 0.0) * a,
                rng.uniform(0.15, 0.21), rng.uniform(0.1, 0.15))  # fmt: skip
    look = rng.uniform(-0.45, 0.45)
    iris_r = rng.uniform(0.55, 0.75) * eyes.ry * 1.4
    for side in (-1.0, 1.0):
        cu = sc.pose.project(side * eyes.ex, float(np.sqrt(1 - eyes.ex**2)))
        rx = eyes.rx * sc.pose.foreshorten(side * eyes.ex)
        du, dv = sc.u - cu, sc.v - eyes.ey
        eye = (du / rx) ** 2 + (dv / eyes.ry) ** 2 <= 1.0
        sc.paint(eye, EYE, M_SCLERA)
        iu = cu + look * rx * 0.5
        iris = eye & ((sc.u - iu) ** 2 + dv**2 <= iris_r**2)
        sc.mat[iris] = M_IRIS
        sc.mat[iris & ((sc.u - iu) ** 2 + dv**2 <= (0.45 * iris_r) ** 2)] = M_PUPIL
        lash = eye & (dv <= -eyes.ry * np.sqrt(np.clip(1 - (du / rx) ** 2, 0, 1)) + 0.05)
        sc.mat[lash] = M_PUPIL
    return eyes


def paint_brows(sc: Scene, eyes: Eyes, rng: np.random.Generator) -> None:
    """Two arched brows above the eyes, thicker at the inner end, in the hair's colour."""
    gap, arch = rng.uniform(0.17, 0.27), rng.uniform(0.0, 0.1)
    width, thick = rng.uniform(0.22, 0.3), rng.uniform(0.2, 0.28)
    tilt = rng.uniform(-0.08, 0.12)
    for side in (-1.0, 1.0):
        bu = side * (eyes.ex + rng.uniform(-0.02, 0.04))
        cu = sc.pose.project(bu, float(np.sqrt(max(1 - bu**2, 0.0))) * 1.02)
        w = width * sc.pose.foreshorten(bu)
        t = (sc.u - cu) / w  # -1..1 along the brow
        inner = np.clip((1.0 - side * t) / 2.0, 0.0, 1.0)  # 1 at the nose end
        centre = eyes.ey - gap - arch * (1.0 - t**2) + tilt * side * t
        band = np.abs(sc.v - centre) <= 0.5 * thick * (0.6 + 0.4 * inner)
        sc.paint(band & (np.abs(t) <= 1.0), BROW, M_BROW)


def paint_nose(sc: Scene, eyes: Eyes, rng: np.random.Generator, light_u: float) -> None:
    """A nose of skin colour, seen only through its shading and nostrils (class nose)."""
    a = sc.pose.aspect
    top, tip = eyes.ey + rng.uniform(0.08, 0.14), rng.uniform(0.3, 0.42) * a
    half = rng.uniform(0.13, 0.19) * sc.pose.foreshorten(0.0)
    s = np.clip((sc.v - top) / (tip - top), 0.0, 1.0)
    centre = (1.0 + 0.22 * s) * float(np.sin(sc.pose.yaw))  # the ridge stands out towards the tip
    w = half * (0.3 + 0.7 * s**2)
    tip_u = sc.pose.project(0.0, 1.22)
    body = (np.abs(sc.u - centre) <= w) & (sc.v >= top) & (sc.v <= tip)
    ball = ellipse(sc.u, sc.v, tip_u, tip - 0.04, half, 0.08)
    nose = (body | ball) & (sc.lab == SKIN)
    sc.lab[nose] = NOSE  # the material stays skin
    across = np.clip((sc.u - centre) / np.maximum(w, 1e-3), -1.0, 1.0)
    away = np.clip(-across * np.sign(light_u or 1.0), 0.0, 1.0)  # the side turned from the light
    sc.shade[nose] *= 1.0 - rng.uniform(0.12, 0.25) * away[nose] * (0.4 + 0.6 * s[nose])
    sc.shade[ball & nose] *= 1.05  # highlight on the tip
    for side in (-1.0, 1.0):
        nostril = ellipse(sc.u, sc.v, tip_u + side * 0.45 * half, tip + 0.01, 0.055, 0.035)
        sc.mat[nostril & nose] = M_NOSTRIL


def paint_lips(sc: Scene, rng: np.random.Generator) -> None:
    """Upper and lower lip around a dark mouth line, smiling or not (class lips)."""
    a = sc.pose.aspect
    my, mw = rng.uniform(0.55, 0.68) * a, rng.uniform(0.26, 0.38)
    upper, lower, smile = rng.uniform(0.09, 0.14), rng.uniform(0.11, 0.17), rng.uniform(-0.05, 0.12)
    cu = sc.pose.project(0.0, 0.98)
    w = mw * sc.pose.foreshorten(0.0)
    du = (sc.u - cu) / w
    vv = sc.v - my + smile * du**2
    lips = du**2 + (vv / np.where(vv < 0, upper, lower)) ** 2 <= 1.0
    sc.paint(lips & (sc.lab == SKIN), LIPS, M_LIPS)
    sc.mat[lips & (np.abs(vv) <= 0.022 + 0.03 * (1 - du**2) * (smile > 0.06))] = M_LIPLINE


def paint_glasses(sc: Scene, eyes: Eyes, rng: np.random.Generator) -> None:
    """Frames (rims, bridge, temples: class glasses) and tinted lenses over the eyes."""
    rim_r = eyes.rx + rng.uniform(0.07, 0.13)
    rim_v = eyes.ry + rng.uniform(0.08, 0.14)
    thick = rng.uniform(0.09, 0.14)
    square = rng.random() < 0.5
    tint = rng.uniform(0.7, 1.0, size=3).astype(np.float32)
    centres = []
    for side in (-1.0, 1.0):
        cu = sc.pose.project(side * eyes.ex, float(np.sqrt(1 - eyes.ex**2)) * 1.05)
        rx = rim_r * sc.pose.foreshorten(side * eyes.ex)
        du, dv = (sc.u - cu) / rx, (sc.v - eyes.ey) / rim_v
        norm = np.maximum(np.abs(du), np.abs(dv)) if square else np.sqrt(du**2 + dv**2)
        sc.tint[norm < 1.0] *= tint
        sc.paint((norm >= 1.0) & (norm <= 1.0 + thick / rim_v), GLASSES, M_FRAME)
        centres.append((cu, rx))
    (lu, lrx), (ru, rrx) = centres
    bridge = (
        (sc.u >= lu + lrx)
        & (sc.u <= ru - rrx)
        & (np.abs(sc.v - eyes.ey + 0.3 * rim_v) <= thick / 2)
    )
    sc.paint(bridge, GLASSES, M_FRAME)
    for cu, rx, side in ((lu, lrx, -1.0), (ru, rrx, 1.0)):
        arm = (
            (side * (sc.u - cu) >= rx)
            & (side * sc.u <= 1.02)
            & (np.abs(sc.v - eyes.ey + 0.2 * rim_v) <= thick / 2)
        )
        sc.paint(arm, GLASSES, M_FRAME)


def paint_hat(sc: Scene, rng: np.random.Generator) -> None:
    """A beanie (with a band), a cap (with a peak) or a brimmed hat, rolled with the head."""
    u, v, a = sc.u, sc.v, sc.pose.aspect
    kind = int(rng.integers(3))
    base = -rng.uniform(0.45, 0.7) * a
    if kind == 0:
        dome = ellipse(u, v, 0.0, base, rng.uniform(1.08, 1.2), rng.uniform(0.7, 0.95) * a) & (
            v <= base + 0.05
        )
        sc.paint(dome, HAT, M_HAT)
        sc.paint(dome & (v >= base - rng.uniform(0.15, 0.25)), HAT, M_HATBAND)
    elif kind == 1:
        dome = ellipse(u, v, 0.0, base, 1.1, rng.uniform(0.65, 0.85) * a) & (v <= base)
        side = float(np.sign(sc.pose.yaw) or 1.0)
        peak = ellipse(u, v, side * 0.35, base, rng.uniform(0.7, 0.95), 0.12) & (v >= base - 0.02)
        sc.paint(dome | peak, HAT, M_HAT)
    else:
        top = base - rng.uniform(0.5, 0.8) * a
        hw = rng.uniform(0.7, 0.95)
        crown = (np.abs(u) <= hw) & (v <= base) & ellipse(u, v, 0.0, base, hw * 1.05, base - top)
        brim = ellipse(u, v, 0.0, base, rng.uniform(1.25, 1.55), rng.uniform(0.1, 0.16))
        sc.paint(crown | brim, HAT, M_HAT)
        sc.paint(crown & (v >= base - rng.uniform(0.1, 0.18)), HAT, M_HATBAND)


def paint_occluder(sc: Scene, rng: np.random.Generator) -> None:
    """Something between camera and person (a ball, a bar, a mug) near the bottom or a side:
    not part of the person, so it is background."""
    p = sc.pose
    cx = p.cx + rng.choice([-1.0, 1.0]) * rng.uniform(0.5, 1.6) * p.r
    cy = p.cy + rng.uniform(0.6, 2.2) * p.r
    x, y = rotated(XS, YS, cx, cy, rng.uniform(0, np.pi))
    size = rng.uniform(0.25, 0.6) * p.r
    if rng.random() < 0.5:
        where = x**2 + y**2 <= size**2
    else:
        where = (np.abs(x) <= size * rng.uniform(1.0, 3.0)) & (np.abs(y) <= size * 0.35)
    sc.paint(where, BG, M_OCCLUDER)

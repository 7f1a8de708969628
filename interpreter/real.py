"""Annotated *real* images as training data for the interpreter (HandsOff, Xu et al. CVPR 2023).

A folder of images and a folder of masks named like them (``photo_12.jpg`` <- ``photo_12.png``,
class-index or palette PNGs, 255 = not annotated). Each image is inverted into W+ (by the caller:
an encoder, optionally refined), and its mask is brought to the interpreter's label size the way
the image was brought to the generator's: the centred square, then nearest-neighbour resizing. The
pairs then train the same ensemble as annotated generated samples, and can be mixed with them.

Everything that can be checked from the files is checked before any model runs, and every problem
is reported at once: a missing mask, a mask whose size differs from its image's, class ids outside
the list, a file that is not an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datasetgan.interpreter.annotations import Annotation, AnnotationSet, _refuse
from datasetgan.interpreter.errors import AnnotationError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
REAL_FIRST_ID = 1_000_000_000  # sample ids of real images (generated samples use small ids)


@dataclass(frozen=True)
class RealPair:
    image: Path
    mask: Path


def pair_real_images(
    images: Path, masks: Path, *, n_classes: int, ignore_value: int = 255
) -> list[RealPair]:
    """Every image of ``images`` with its mask in ``masks`` (same stem, .png); AnnotationError
    naming every image without a usable mask."""
    files = sorted(p for p in Path(images).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise AnnotationError(
            f"{images}: no images ({', '.join(IMAGE_SUFFIXES)}); expected the real images"
        )
    pairs, problems = [], []
    for f in files:
        mask = Path(masks) / f"{f.stem}.png"
        problem = _pair_problem(f, mask, n_classes, ignore_value)
        if problem:
            problems.append(problem)
        else:
            pairs.append(RealPair(f, mask))
    _refuse(problems)
    return pairs


def _pair_problem(image: Path, mask: Path, n_classes: int, ignore_value: int) -> str | None:
    if not mask.is_file():
        return f"{image.name}: no mask {mask}; expected one class-index PNG named like each image"
    try:
        with Image.open(image) as img:
            size = img.size
        with Image.open(mask) as m:
            if m.mode not in ("L", "P"):
                return f"{mask}: PNG mode {m.mode!r} holds colours; expected class ids ('L' or 'P')"
            values = np.asarray(m)
    except (OSError, SyntaxError) as exc:
        return f"{image.name}: cannot be read ({exc})"
    if values.shape[::-1] != size:
        return (
            f"{mask}: {values.shape[1]}x{values.shape[0]} (WxH), its image is {size[0]}x{size[1]}"
        )
    bad = sorted({int(v) for v in np.unique(values)} - {*range(n_classes), ignore_value})
    if bad:
        return f"{mask}: class id(s) {bad[:10]} outside the class list; expected 0..{n_classes - 1}"
    return None


def fit_mask(mask: np.ndarray, size: int) -> np.ndarray:
    """uint8 [H, W] -> [size, size]: the centred square, nearest-neighbour (the images' fit)."""
    h, w = mask.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    img = Image.fromarray(np.ascontiguousarray(mask[top : top + side, left : left + side]))
    return np.asarray(img.resize((size, size), Image.Resampling.NEAREST), dtype=np.uint8)


def real_annotations(
    pairs: Sequence[RealPair],
    codes: Sequence[torch.Tensor],
    *,
    class_names: Sequence[str],
    label_size: int,
    folder: Path,
    ignore_value: int = 255,
    leave_out: Sequence[np.ndarray] | None = None,
) -> tuple[AnnotationSet, dict[int, torch.Tensor]]:
    """(masks as an AnnotationSet with ids from REAL_FIRST_ID, id -> W+ code [L, D]) of embedded
    pairs; ``codes[i]`` belongs to ``pairs[i]``. ``leave_out[i]`` (bool [label_size, label_size])
    marks pixels of mask i that train nothing (they become not annotated)."""
    if leave_out is not None and len(leave_out) != len(pairs):
        raise ValueError(
            f"leave_out: got {len(leave_out)} maps, expected one per pair ({len(pairs)})"
        )
    items, latents = [], {}
    for k, (pair, code) in enumerate(zip(pairs, codes, strict=True)):
        with Image.open(pair.mask) as m:
            mask = torch.from_numpy(fit_mask(np.asarray(m), label_size).astype(np.int64))
        mask[mask == ignore_value] = -1
        if leave_out is not None:
            if leave_out[k].shape != (label_size, label_size):
                raise ValueError(f"leave_out[{k}]: got {leave_out[k].shape}, "
                                 f"expected ({label_size}, {label_size})")  # fmt: skip
            mask[torch.from_numpy(np.asarray(leave_out[k], dtype=bool))] = -1
        items.append(Annotation(REAL_FIRST_ID + k, mask, pair.mask))
        latents[REAL_FIRST_ID + k] = code
    return AnnotationSet(tuple(class_names), tuple(items), folder), latents


def merge(a: AnnotationSet, b: AnnotationSet) -> AnnotationSet:
    """Generated and real annotations in one set (their class lists must agree)."""
    if a.class_names != b.class_names:
        raise AnnotationError(f"{b.folder}: classes {list(b.class_names)} differ from {a.folder}'s "
                              f"{list(a.class_names)}; expected one class list")  # fmt: skip
    return AnnotationSet(a.class_names, a.items + b.items, a.folder)

"""Toy faces as files and tensors: PNG folders with exact masks, npz arrays, torch Datasets.

Layout of a PNG folder (what `write_png_folder` writes and `read_png_folder` reads)::

    root/images/000123.png   RGB image of seed 123
    root/labels/000123.png   palette PNG, pixel value = class index (palette = PALETTE)
    root/classes.json        ["background", "skin", ...]

The labels folder alone is an annotation folder the interpreter reads (the sample id is the seed).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from datasetgan.toyfaces.domain import CLASS_NAMES, PALETTE, VERSION
from datasetgan.toyfaces.oracle import oracle_annotate_batch
from datasetgan.toyfaces.renderer import render, render_batch

ImageRange = Literal["signed", "unit"]
CLASS_FILE = "classes.json"


def label_image(mask: np.ndarray) -> Image.Image:
    """Mask [H, W] of class indices -> palette ('P') PIL image with PALETTE colours."""
    if mask.ndim != 2:
        raise ValueError(f"got mask shape {mask.shape}, expected [H, W]")
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    pal = np.zeros((256, 3), dtype=np.uint8)
    pal[: len(PALETTE)] = PALETTE
    img.putpalette(pal.ravel().tolist())
    return img


def colour_mask(mask: np.ndarray) -> np.ndarray:
    """Mask [..., H, W] -> RGB [..., H, W, 3] uint8 in PALETTE colours."""
    return PALETTE[np.asarray(mask, dtype=np.int64)]


def write_png_folder(root: str | Path, seeds: Iterable[int]) -> list[Path]:
    """Render `seeds` and write images/, labels/ and classes.json under `root`; returns image paths."""
    root = Path(root)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    (root / CLASS_FILE).write_text(json.dumps(list(CLASS_NAMES)))
    paths = []
    for seed in seeds:
        s = render(int(seed))
        name = f"{s.seed:06d}.png"
        Image.fromarray(s.image).save(root / "images" / name)
        label_image(s.mask).save(root / "labels" / name)
        paths.append(root / "images" / name)
    return paths


def read_png_folder(root: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A folder written by `write_png_folder` -> images [N, H, W, 3] uint8, masks [N, H, W] uint8,
    seeds [N] int64 (sorted by file name)."""
    root = Path(root)
    names = sorted(p.name for p in (root / "images").glob("*.png"))
    if not names:
        raise FileNotFoundError(
            f"{root / 'images'}: no PNG; expected a folder from write_png_folder"
        )
    images = np.stack([np.asarray(Image.open(root / "images" / n).convert("RGB")) for n in names])
    masks = np.stack([np.asarray(Image.open(root / "labels" / n)) for n in names]).astype(np.uint8)
    seeds = np.array([int(Path(n).stem) for n in names], dtype=np.int64)
    return images, masks, seeds


def oracle_annotate_folder(
    images: str | Path, labels: str | Path, *, only: Sequence[str] | None = None
) -> list[Path]:
    """Label every PNG in ``images`` (or the ``only`` file names) with the oracle; write palette
    PNGs of the same names and classes.json into ``labels`` (an annotation folder the interpreter
    reads). Returns the label paths."""
    src, dst = Path(images), Path(labels)
    files = sorted(src.glob("*.png")) if only is None else [src / name for name in only]
    if not files or not all(f.is_file() for f in files):
        missing = "" if only is None else f" (or one of {list(only)} missing)"
        raise FileNotFoundError(f"{src}: no PNG{missing}; expected a folder of RGB PNG images")
    dst.mkdir(parents=True, exist_ok=True)
    (dst / CLASS_FILE).write_text(json.dumps(list(CLASS_NAMES)))
    pictures = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    out = []
    for f, mask in zip(files, oracle_annotate_batch(pictures), strict=True):
        label_image(mask).save(dst / f.name)
        out.append(dst / f.name)
    return out


def save_npz(path: str | Path, seeds: Sequence[int]) -> None:
    """Render `seeds` into one .npz: images [N, 64, 64, 3] uint8, masks [N, 64, 64] uint8, seeds [N]."""
    images, masks = render_batch(seeds)
    np.savez_compressed(path, images=images, masks=masks, seeds=np.asarray(seeds, dtype=np.int64))


def load_npz(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images, masks, seeds) of a file written by `save_npz`."""
    with np.load(path) as f:
        return f["images"], f["masks"], f["seeds"]


def render_cached(first_seed: int, n: int, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """Renders of seeds ``first_seed .. first_seed + n - 1`` (images, masks), kept in
    ``cache_dir/toyfaces-v<version>-<first>-<n>.npz`` so that large sets are rendered once."""
    if cache_dir is None:
        return render_batch(range(first_seed, first_seed + n))
    path = Path(cache_dir) / f"toyfaces-v{VERSION}-{first_seed}-{n}.npz"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.npz")
        save_npz(tmp, range(first_seed, first_seed + n))
        tmp.replace(path)
    images, masks, _ = load_npz(path)
    return images, masks


def to_tensor(images: np.ndarray, *, image_range: ImageRange = "signed") -> torch.Tensor:
    """uint8 [N, H, W, 3] (or [H, W, 3]) -> float32 [N, 3, H, W] in [-1, 1] ("signed") or [0, 1] ("unit")."""
    if images.dtype != np.uint8 or images.shape[-1] != 3:
        raise ValueError(f"got {images.dtype} {images.shape}, expected uint8 [..., H, W, 3]")
    t = torch.from_numpy(np.ascontiguousarray(np.moveaxis(images, -1, -3))).to(torch.float32)
    return t / 127.5 - 1.0 if image_range == "signed" else t / 255.0


class ToyFaces(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Toy faces held in memory as uint8: item i -> (image float32 [3, H, W], label int64 [H, W]).

    image_range: "signed" ([-1, 1], for GAN training) or "unit" ([0, 1], like
    `storage.SegmentationDataset`, for segmentation training/evaluation).
    """

    def __init__(
        self, images: np.ndarray, masks: np.ndarray, *, image_range: ImageRange = "signed"
    ) -> None:
        if image_range not in ("signed", "unit"):
            raise ValueError(f"got image_range {image_range!r}, expected 'signed' or 'unit'")
        if images.ndim != 4 or masks.shape != images.shape[:3]:
            raise ValueError(
                f"got images {images.shape}, masks {masks.shape}; expected [N,H,W,3], [N,H,W]"
            )
        self.images = images
        self.masks = masks
        self.image_range: ImageRange = image_range

    @classmethod
    def from_seeds(cls, seeds: Iterable[int], *, image_range: ImageRange = "signed") -> ToyFaces:
        images, masks = render_batch(seeds)
        return cls(images, masks, image_range=image_range)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = to_tensor(self.images[index], image_range=self.image_range)
        return image, torch.from_numpy(self.masks[index].astype(np.int64))

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All items at once: images float32 [N, 3, H, W], labels int64 [N, H, W]."""
        labels = torch.from_numpy(self.masks.astype(np.int64))
        return to_tensor(self.images, image_range=self.image_range), labels

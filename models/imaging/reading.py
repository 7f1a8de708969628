"""Read image files of any size and mode into fixed-size RGB arrays.

Policy (stated once, applied to every file):

1. **Orientation**: the EXIF orientation tag is applied first (``ImageOps.exif_transpose``), so a
   phone photo stored sideways is read upright.
2. **Frames**: multi-frame files (GIF, TIFF, APNG) contribute their first frame only.
3. **Mode -> RGB**:
   - 8-bit RGB / grey / 1-bit / CMYK / YCbCr / LAB: converted by Pillow; grey is replicated to 3 channels.
   - 16-bit and 32-bit integer grey (``I;16*``, ``I``): scaled by 255/65535 (values clipped to 0..65535).
   - float grey (``F``): values in [0, 1] are scaled by 255, otherwise clipped to 0..255.
   - palette (``P``): expanded through its palette; a transparent index becomes alpha.
   - anything with alpha (RGBA, LA, PA, palette transparency): composited over a solid background
     (``background="white"`` or ``"black"``), never dropped silently.
4. **Geometry** (``fit``):
   - ``"center_crop"`` (default): the largest centred square is cut out and resized to ``size``.
   - ``"pad"``: the whole image is resized so its longer side is ``size`` and centred on a square
     canvas of the background colour.
   - ``"stretch"``: resized to ``size x size`` ignoring the aspect ratio.
   Resampling is Lanczos (antialiased) for every resize; an image already ``size x size`` is not resampled.
5. **Failures**: a file that is missing, not an image, truncated, empty, or a decompression bomb is
   returned as an :class:`ImageFailure` with the reason; reading a batch never raises for one bad file.

Arrays are ``uint8`` with shape ``[H, W, 3]`` (one image) or ``[N, H, W, 3]`` (a batch), H = W = size.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from datasetgan.models.errors import ModelError

FITS = ("center_crop", "pad", "stretch")
BACKGROUNDS = {"white": (255, 255, 255), "black": (0, 0, 0)}
_HIGH_DEPTH_INT_MODES = ("I", "I;16", "I;16L", "I;16B", "I;16N")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageReadError(ModelError, ValueError):
    """One file could not be turned into an RGB array (the message says which and why)."""


@dataclass(frozen=True)
class ImageReadConfig:
    """How files become arrays: output side ``size`` (H = W), geometry ``fit``, alpha ``background``."""

    size: int
    fit: str = "center_crop"
    background: str = "white"

    def __post_init__(self) -> None:
        if self.size < 1:
            raise ValueError(f"ImageReadConfig.size: got {self.size}, expected a positive int")
        if self.fit not in FITS:
            raise ValueError(f"ImageReadConfig.fit: got {self.fit!r}, expected one of {FITS}")
        if self.background not in BACKGROUNDS:
            raise ValueError(
                f"ImageReadConfig.background: got {self.background!r}, "
                f"expected one of {tuple(BACKGROUNDS)}"
            )


@dataclass(frozen=True)
class ImageFailure:
    """A file that was not read: its path and a one-line reason."""

    path: str
    reason: str


@dataclass
class ImageBatch:
    """Result of :func:`read_images`: the good images, their paths, and the failures, in input order.

    ``images`` is ``uint8 [N, size, size, 3]`` with N = len(paths); ``indices[i]`` is the position of
    ``paths[i]`` in the list given to :func:`read_images`.
    """

    images: np.ndarray
    paths: list[str]
    indices: list[int]
    failures: list[ImageFailure] = field(default_factory=list)
    failure_indices: list[int] = field(default_factory=list)


def _to_rgb(img: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB following the module's stated policy."""
    if img.mode in _HIGH_DEPTH_INT_MODES:
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr, 0, 65535) * (255.0 / 65535.0)
        img = Image.fromarray(np.round(arr).astype(np.uint8), mode="L")
    elif img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        finite = arr[np.isfinite(arr)]
        scale = 255.0 if finite.size and finite.min() >= 0.0 and finite.max() <= 1.0 else 1.0
        arr = np.clip(np.nan_to_num(arr * scale), 0, 255)
        img = Image.fromarray(np.round(arr).astype(np.uint8), mode="L")
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode == "L" and "transparency" in img.info:
        img = img.convert("LA")
    if img.mode in _ALPHA_MODES:
        rgba = img.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return img.convert("RGB") if img.mode != "RGB" else img


def _fit(img: Image.Image, cfg: ImageReadConfig) -> Image.Image:
    """Apply the geometry policy; returns an RGB image of ``cfg.size x cfg.size``."""
    size = cfg.size
    w, h = img.size
    if (w, h) == (size, size):
        return img
    lanczos = Image.Resampling.LANCZOS
    if cfg.fit == "stretch":
        return img.resize((size, size), lanczos)
    if cfg.fit == "center_crop":
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return img.resize((size, size), lanczos, box=(left, top, left + side, top + side))
    scale = size / max(w, h)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    canvas = Image.new("RGB", (size, size), BACKGROUNDS[cfg.background])
    canvas.paste(img.resize((new_w, new_h), lanczos), ((size - new_w) // 2, (size - new_h) // 2))
    return canvas


def read_image(path: str | os.PathLike[str], config: ImageReadConfig) -> np.ndarray:
    """Read one file -> ``uint8 [size, size, 3]``; raises :class:`ImageReadError` saying why not."""
    p = Path(path)
    try:
        with Image.open(p) as opened:
            opened.seek(0)
            opened.load()
            img = ImageOps.exif_transpose(opened)
            if img is None:  # pragma: no cover - exif_transpose returns an image unless in_place
                img = opened
            if img.size[0] < 1 or img.size[1] < 1:
                raise ImageReadError(f"{p}: empty image of size {img.size}")
            rgb = _to_rgb(img, BACKGROUNDS[config.background])
            out = np.asarray(_fit(rgb, config), dtype=np.uint8)
    except ImageReadError:
        raise
    except FileNotFoundError as exc:
        raise ImageReadError(f"{p}: file not found") from exc
    except IsADirectoryError as exc:
        raise ImageReadError(f"{p}: is a directory, expected an image file") from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(f"{p}: not an image format Pillow can read") from exc
    except Image.DecompressionBombError as exc:
        raise ImageReadError(f"{p}: refused as a decompression bomb ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise ImageReadError(f"{p}: unreadable ({type(exc).__name__}: {exc})") from exc
    if out.shape != (config.size, config.size, 3):  # pragma: no cover - guarded by _fit
        raise ImageReadError(
            f"{p}: got array {out.shape}, expected {(config.size, config.size, 3)}"
        )
    return out


def read_images(paths: Sequence[str | os.PathLike[str]], config: ImageReadConfig) -> ImageBatch:
    """Read many files; bad ones land in ``failures`` with their reason, the rest in ``images``.

    Returns an :class:`ImageBatch` whose ``images`` is ``uint8 [N, size, size, 3]`` (N may be 0).
    """
    good: list[np.ndarray] = []
    batch = ImageBatch(np.zeros((0, config.size, config.size, 3), np.uint8), [], [])
    for i, path in enumerate(paths):
        try:
            good.append(read_image(path, config))
        except ImageReadError as exc:
            batch.failures.append(ImageFailure(str(path), str(exc)))
            batch.failure_indices.append(i)
            continue
        batch.paths.append(str(path))
        batch.indices.append(i)
    if good:
        batch.images = np.stack(good)
    return batch


def list_files(root: str | os.PathLike[str], *, walk: str = "recursive") -> list[str]:
    """All regular, non-hidden files under ``root`` (sorted, deterministic), images or not.

    Non-image files are deliberately included so that reading them records a failure with a
    reason instead of silently skipping them. ``walk`` is ``"recursive"`` or ``"flat"``.
    """
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"list_files: {base} is not a directory")
    if walk not in ("recursive", "flat"):
        raise ValueError(f"list_files: walk={walk!r}, expected 'recursive' or 'flat'")
    found: Iterable[Path] = base.rglob("*") if walk == "recursive" else base.iterdir()
    keep = [
        p
        for p in found
        if p.is_file() and not any(part.startswith(".") for part in p.relative_to(base).parts)
    ]
    return sorted(str(p) for p in keep)


def to_signed_float(images: np.ndarray) -> np.ndarray:
    """``uint8 [N, H, W, 3]`` -> ``float32 [N, 3, H, W]`` in [-1, 1] (the generator's range)."""
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        raise ValueError(
            f"to_signed_float: got {images.dtype} {images.shape}, expected uint8 [N, H, W, 3]"
        )
    return (images.transpose(0, 3, 1, 2).astype(np.float32) / 127.5) - 1.0

"""A run folder as the studio sees it: what ``datasetgan sample`` wrote, plus the masks painted so far.

    RUN/samples/              the samples store (W+ codes, seeds; the generator it was drawn with)
    RUN/images/<id>.png       the images to annotate (id: 8 digits)
    RUN/annotations/<id>.png  palette PNGs, pixel = class id, 255 = not annotated
    RUN/annotations/classes.json   the class list and palette (what train-interpreter reads)
    RUN/annotations/.studio.json   the studio's own state (skipped samples)

Sample ids are parsed as integers and mapped to file names here, never joined from request text, so
no request can reach a path outside the folder. Every write goes to a temporary name first and is
renamed into place.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from datasetgan.annotate.errors import MaskRejected, StudioError, UnknownSample

NOT_ANNOTATED = 255
CLASSES_FILE = "classes.json"
STATE_FILE = ".studio.json"
INDEX_MODES = ("P", "L")


@dataclass(frozen=True)
class SavedMask:
    """A mask that landed: its path, version (file mtime in ns) and class pixel counts."""

    path: Path
    version: int
    counts: dict[str, int]


def palette_for(n_classes: int, given: Sequence[Sequence[int]] = ()) -> list[list[int]]:
    """K RGB colours: ``given`` when it has K, else the store's default (VOC) colours."""
    from datasetgan.storage import default_palette

    if len(given) == n_classes:
        return [list(map(int, c)) for c in given]
    return [list(c) for c in default_palette(n_classes)]


def encode_mask(mask: np.ndarray, palette: Sequence[Sequence[int]]) -> bytes:
    """uint8 [H, W] class ids -> palette PNG bytes (255 = not annotated, shown transparent-grey)."""
    img = Image.fromarray(mask.astype(np.uint8), mode="P")
    table = np.full((256, 3), 128, dtype=np.uint8)
    table[: len(palette)] = np.asarray(palette, dtype=np.uint8)
    img.putpalette(table.ravel().tolist())
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def encode_index(mask: np.ndarray) -> bytes:
    """uint8 [H, W] class ids -> 8-bit grey PNG bytes (what the page decodes)."""
    buf = io.BytesIO()
    Image.fromarray(mask.astype(np.uint8), mode="L").save(buf, format="PNG")
    return buf.getvalue()


def decode_mask(body: bytes, *, size: tuple[int, int], n_classes: int, where: str) -> np.ndarray:
    """A class-index ('L') or palette ('P') PNG -> uint8 [H, W]; MaskRejected for anything else, a
    size other than ``size`` (H, W) or ids outside 0..K-1 and 255."""
    try:
        with Image.open(io.BytesIO(body)) as img:
            if img.format != "PNG":
                raise MaskRejected(where, f"a {img.format} image", "a PNG")
            if img.mode not in INDEX_MODES:
                raise MaskRejected(where, f"PNG mode {img.mode!r} holds colours, not class ids",
                                   "an 8-bit grey ('L') or palette ('P') PNG of class ids")  # fmt: skip
            mask = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise MaskRejected(where, f"not a PNG ({exc})", "a class-index or palette PNG") from exc
    if mask.shape != tuple(size):
        raise MaskRejected(where, f"mask is {mask.shape[1]}x{mask.shape[0]} (WxH)",
                           f"{size[1]}x{size[0]}, the image's size")  # fmt: skip
    bad = sorted({int(v) for v in np.unique(mask)} - {*range(n_classes), NOT_ANNOTATED})
    if bad:
        raise MaskRejected(where, f"class id(s) {bad[:10]} outside the class list",
                           f"0..{n_classes - 1} (or {NOT_ANNOTATED} = not annotated)")  # fmt: skip
    return mask


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


@dataclass(frozen=True)
class RunFolder:
    """The files of one run folder (see the module docstring) and its classes."""

    root: Path
    class_names: tuple[str, ...]
    palette: tuple[tuple[int, int, int], ...]
    size: tuple[int, int]  # H, W of every image
    ids: tuple[int, ...]  # samples that have an image

    @property
    def samples(self) -> Path:
        return self.root / "samples"

    @property
    def annotations(self) -> Path:
        return self.root / "annotations"

    @classmethod
    def open(cls, root: str | Path, *, classes: Sequence[str] | None = None) -> RunFolder:
        """Read a folder ``datasetgan sample`` wrote; the class list comes from ``classes``, the
        annotations folder (classes.json / .txt) or the samples store, in that order."""
        root = Path(root)
        images = root / "images"
        ids = sorted(int(p.stem) for p in images.glob("*.png") if p.stem.isdigit())
        if not ids:
            raise StudioError(root, "no images/<id>.png", "a folder written by `datasetgan sample`")
        names, palette = _classes(root, classes)
        with Image.open(images / f"{ids[0]:08d}.png") as first:
            size = (first.height, first.width)
        return cls(root, names, tuple(map(tuple, palette)), size, tuple(ids))  # type: ignore[arg-type]

    def check_id(self, sample_id: int) -> int:
        if sample_id not in set(self.ids):
            raise UnknownSample(f"sample {sample_id}", "not a sample of this folder",
                                f"one of its {len(self.ids)} ids")  # fmt: skip
        return sample_id

    def image_path(self, sample_id: int) -> Path:
        return self.root / "images" / f"{self.check_id(sample_id):08d}.png"

    def mask_path(self, sample_id: int) -> Path:
        return self.annotations / f"{self.check_id(sample_id):08d}.png"

    def version(self, sample_id: int) -> int:
        """The saved mask's mtime in ns (0 when there is none yet)."""
        path = self.mask_path(sample_id)
        return path.stat().st_mtime_ns if path.is_file() else 0

    def read_mask(self, sample_id: int) -> np.ndarray | None:
        """The saved mask as uint8 [H, W] class ids, or None when there is none yet."""
        path = self.mask_path(sample_id)
        if not path.is_file():
            return None
        with Image.open(path) as img:
            return np.asarray(img, dtype=np.uint8)

    def save_mask(self, sample_id: int, body: bytes) -> SavedMask:
        """Check ``body`` (see :func:`decode_mask`) and store it as a palette PNG, atomically."""
        path = self.mask_path(sample_id)
        mask = decode_mask(body, size=self.size, n_classes=len(self.class_names),
                           where=f"annotation {sample_id}")  # fmt: skip
        self.annotations.mkdir(parents=True, exist_ok=True)
        self.write_classes()
        write_atomic(path, encode_mask(mask, self.palette))
        counts = np.bincount(mask.ravel(), minlength=256)
        named = {n: int(counts[k]) for k, n in enumerate(self.class_names)}
        return SavedMask(path, path.stat().st_mtime_ns, named | {"not annotated": int(counts[255])})

    def write_classes(self) -> None:
        """classes.json (names + palette) beside the masks, unless it already says the same."""
        path = self.annotations / CLASSES_FILE
        data = {"class_names": list(self.class_names), "palette": [list(c) for c in self.palette]}
        if not path.is_file() or json.loads(path.read_text(encoding="utf-8")) != data:
            write_atomic(path, (json.dumps(data, indent=2) + "\n").encode())

    def annotated(self) -> set[int]:
        return {i for i in self.ids if (self.annotations / f"{i:08d}.png").is_file()}

    def skipped(self) -> set[int]:
        path = self.annotations / STATE_FILE
        return set(json.loads(path.read_text())["skipped"]) if path.is_file() else set()

    def set_skipped(self, sample_id: int, skipped: bool) -> None:
        ids = self.skipped() - {self.check_id(sample_id)} | ({sample_id} if skipped else set())
        self.annotations.mkdir(parents=True, exist_ok=True)
        write_atomic(self.annotations / STATE_FILE, json.dumps({"skipped": sorted(ids)}).encode())


def _classes(root: Path, given: Sequence[str] | None) -> tuple[tuple[str, ...], list[list[int]]]:
    from datasetgan.interpreter.annotations import read_class_names
    from datasetgan.storage import ShardedStore

    palette: Sequence[Sequence[int]] = ()
    if given:
        names = tuple(given)
    elif (root / "annotations" / CLASSES_FILE).is_file():
        names = read_class_names(root / "annotations" / CLASSES_FILE)
        data = json.loads((root / "annotations" / CLASSES_FILE).read_text(encoding="utf-8"))
        palette = data.get("palette", []) if isinstance(data, dict) else []
    elif (root / "annotations" / "classes.txt").is_file():
        names = read_class_names(root / "annotations" / "classes.txt")
    else:
        spec = ShardedStore.open(root / "samples").spec
        names, palette = tuple(spec.class_names), spec.palette
    if len(names) < 2 or names == ("unlabelled",):
        raise StudioError(root, "no class list",
                          "--classes, or a folder sampled with `datasetgan sample --classes`")  # fmt: skip
    if len(names) > NOT_ANNOTATED:
        raise StudioError(root, f"{len(names)} classes", f"at most {NOT_ANNOTATED} (8-bit masks)")
    return names, palette_for(len(names), palette)

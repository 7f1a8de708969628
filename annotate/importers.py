"""Masks made in other tools -> an annotation folder ``train-interpreter`` reads.

- ``labelme``: one JSON per image (``shapes``: polygon, rectangle, circle, line, linestrip, point,
  each with a ``label``); rasterised with Pillow's ImageDraw, later shapes on top.
- ``cvat``: CVAT's "Segmentation mask 1.1" export: ``labelmap.txt`` (``name:r,g,b::``) and colour
  PNGs in ``SegmentationClass/``.
- ``png``: index ('L') or palette ('P') PNGs whose values are class ids, or RGB PNGs whose colours
  a class table maps to classes (``classes.json`` with ``palette``, beside them or ``--classes``).

Each file's sample id is the trailing digits of its name. Label names map to the class list by
name; pixels no shape covers become class 0 (``unlabelled="first"``) or 255, not annotated
(``"ignore"``). When ``out`` is a run folder's ``annotations/``, each mask must be the size of its
``images/<id>.png``. Every problem of every file is collected; if there is any, nothing is written
(``skip_bad`` writes the good files and still reports the bad ones). Files land through a
temporary name and a rename.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from datasetgan.annotate.errors import ImportFailed
from datasetgan.annotate.folder import CLASSES_FILE, NOT_ANNOTATED, encode_mask, palette_for

FORMATS = ("labelme", "cvat", "png")


class _Bad(Exception):
    """One file's problem (collected, then reported with the others)."""


def import_masks(
    fmt: str,
    src: Path,
    out: Path,
    *,
    classes: Sequence[str] | None = None,
    unlabelled: str = "first",
    skip_bad: bool = False,
) -> list[Path]:
    """Convert every file of ``src`` (see the module docstring); returns the masks written."""
    if fmt not in FORMATS:
        raise ImportFailed("format", f"got {fmt!r}", f"one of {', '.join(FORMATS)}")
    if unlabelled not in ("first", "ignore"):
        raise ImportFailed("unlabelled", f"got {unlabelled!r}", "'first' or 'ignore'")
    if not src.is_dir():
        raise ImportFailed(src, "not a folder", f"a {fmt} export")
    names, palette, files, convert = _reader(fmt, src, classes)
    fill = 0 if unlabelled == "first" else NOT_ANNOTATED
    masks: dict[int, np.ndarray] = {}
    problems: list[str] = []
    for f in files:
        try:
            sample_id = _sample_id(f)
            if sample_id in masks:
                raise _Bad(f"sample id {sample_id} appears twice")
            mask = convert(f, names, fill)
            _check_size(mask, out, sample_id)
            masks[sample_id] = mask
        except _Bad as exc:
            problems.append(f"{f}: {exc}")
    if not files:
        problems.append(f"{src}: no files to import")
    if problems and (not skip_bad or not masks):
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ImportFailed(
            src, f"{len(problems)} file(s) cannot be imported, nothing written:\n{listed}"
        )
    written = _write(out, masks, names, palette)
    if problems:
        raise ImportFailed(src, f"{len(written)} masks written, {len(problems)} skipped:\n"
                           + "\n".join(f"  - {p}" for p in problems))  # fmt: skip
    return written


Converter = Callable[[Path, tuple[str, ...], int], np.ndarray]


def _reader(
    fmt: str, src: Path, classes: Sequence[str] | None
) -> tuple[tuple[str, ...], list[list[int]], list[Path], Converter]:
    if fmt == "labelme":
        if not classes:
            raise ImportFailed(
                src, "labelme files carry no class list", "--classes (class 0 first)"
            )
        names = tuple(classes)
        return names, palette_for(len(names)), sorted(src.glob("*.json")), _labelme
    if fmt == "cvat":
        table = _cvat_labelmap(src / "labelmap.txt")
        names = tuple(classes) if classes else tuple(table)
        colours = {tuple(rgb): name for name, rgb in table.items()}
        files = sorted((src / "SegmentationClass").glob("*.png"))
        return (
            names,
            palette_for(len(names), [table[n] for n in names if n in table]),
            files,
            _by_colour(colours),
        )
    names, palette = _png_table(src, classes)
    colours = {tuple(c): n for n, c in zip(names, palette, strict=True)}
    return names, palette, sorted(src.glob("*.png")), _index_or_colour(colours)


def _sample_id(path: Path) -> int:
    match = re.search(r"(\d+)$", path.stem)
    if match is None:
        raise _Bad("no sample id in the file name (expected a name ending in digits)")
    return int(match.group(1))


def _class_id(label: str, names: tuple[str, ...]) -> int:
    if label not in names:
        raise _Bad(f"label {label!r} is not in the class list {list(names)}")
    return names.index(label)


def _labelme(path: Path, names: tuple[str, ...], fill: int) -> np.ndarray:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        h, w = int(doc["imageHeight"]), int(doc["imageWidth"])
        shapes = doc["shapes"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise _Bad(f"not a labelme JSON ({exc})") from exc
    if not shapes:
        raise _Bad("no shapes (an empty annotation)")
    canvas = Image.new("L", (w, h), fill)
    draw = ImageDraw.Draw(canvas)
    for shape in shapes:
        k = _class_id(str(shape.get("label")), names)
        points = [tuple(map(float, p)) for p in shape.get("points", [])]
        _draw_shape(draw, str(shape.get("shape_type") or "polygon"), points, k)
    return np.asarray(canvas, dtype=np.uint8)


def _draw_shape(draw: Any, kind: str, points: list[tuple[float, ...]], k: int) -> None:
    if kind == "polygon" and len(points) >= 3:
        draw.polygon(points, fill=k)
    elif kind == "rectangle" and len(points) == 2:
        (x0, y0), (x1, y1) = points
        draw.rectangle((min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)), fill=k)
    elif kind == "circle" and len(points) == 2:
        (cx, cy), (px, py) = points
        r = float(np.hypot(px - cx, py - cy))
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=k)
    elif kind in ("line", "linestrip") and len(points) >= 2:
        draw.line(points, fill=k, width=1)
    elif kind == "point" and len(points) == 1:
        draw.point(points, fill=k)
    else:
        raise _Bad(f"a {kind!r} shape with {len(points)} points cannot be drawn")


def _cvat_labelmap(path: Path) -> dict[str, list[int]]:
    """name -> [r, g, b] from CVAT's labelmap.txt (``# label:color_rgb:parts:actions``)."""
    if not path.is_file():
        raise ImportFailed(path, "missing", "CVAT's labelmap.txt beside SegmentationClass/")
    table: dict[str, list[int]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        try:
            table[name.strip()] = [int(v) for v in rest.split(":")[0].split(",")]
        except ValueError as exc:
            raise ImportFailed(path, f"line {line!r} has no r,g,b colour", "name:r,g,b::") from exc
    return table


def _by_colour(colours: dict[tuple[int, ...], str]) -> Converter:
    def convert(path: Path, names: tuple[str, ...], fill: int) -> np.ndarray:
        rgb = _read(path, "RGB")
        return _map_colours(rgb, colours, names)

    return convert


def _index_or_colour(colours: dict[tuple[int, ...], str]) -> Converter:
    def convert(path: Path, names: tuple[str, ...], fill: int) -> np.ndarray:
        with Image.open(path) as img:
            mode = img.mode
        if mode in ("L", "P"):
            mask = _read(path, mode)
            bad = sorted({int(v) for v in np.unique(mask)} - {*range(len(names)), NOT_ANNOTATED})
            if bad:
                raise _Bad(f"class id(s) {bad[:10]} outside 0..{len(names) - 1}")
            return mask
        return _map_colours(_read(path, "RGB"), colours, names)

    return convert


def _read(path: Path, mode: str) -> np.ndarray:
    try:
        with Image.open(path) as img:
            if img.width == 0 or img.height == 0:
                raise _Bad("an empty image")
            return np.asarray(img if img.mode == mode else img.convert(mode), dtype=np.uint8)
    except (OSError, SyntaxError) as exc:
        raise _Bad(f"not a readable PNG ({exc})") from exc


def _map_colours(
    rgb: np.ndarray, colours: dict[tuple[int, ...], str], names: tuple[str, ...]
) -> np.ndarray:
    packed = (
        (rgb[..., 0].astype(np.int64) << 16) | (rgb[..., 1].astype(np.int64) << 8) | rgb[..., 2]
    )
    mask = np.full(packed.shape, NOT_ANNOTATED, dtype=np.uint8)
    for value in np.unique(packed):
        colour = (int(value >> 16) & 255, int(value >> 8) & 255, int(value) & 255)
        if colour not in colours:
            raise _Bad(f"colour {colour} is not in the colour table")
        mask[packed == value] = _class_id(colours[colour], names)
    return mask


def _png_table(src: Path, classes: Sequence[str] | None) -> tuple[tuple[str, ...], list[list[int]]]:
    table = src / CLASSES_FILE
    data: Any = json.loads(table.read_text(encoding="utf-8")) if table.is_file() else {}
    names = (
        tuple(classes)
        if classes
        else tuple(data.get("class_names", []) if isinstance(data, dict) else data)
    )
    if len(names) < 2:
        raise ImportFailed(src, "no class list", f"--classes or {CLASSES_FILE} beside the PNGs")
    palette = data.get("palette", []) if isinstance(data, dict) else []
    return names, palette_for(len(names), palette)


def _check_size(mask: np.ndarray, out: Path, sample_id: int) -> None:
    image = out.parent / "images" / f"{sample_id:08d}.png"
    if out.name == "annotations" and image.is_file():
        with Image.open(image) as img:
            if (img.height, img.width) != mask.shape:
                raise _Bad(f"mask is {mask.shape[1]}x{mask.shape[0]} (WxH), its image "
                           f"{image.name} is {img.width}x{img.height}")  # fmt: skip


def _write(
    out: Path, masks: dict[int, np.ndarray], names: tuple[str, ...], palette: list[list[int]]
) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    staged = []
    for sample_id, mask in sorted(masks.items()):
        path = out / f"{sample_id:08d}.png"
        tmp = out / f".{path.name}.import.tmp"
        tmp.write_bytes(encode_mask(mask, palette))
        staged.append((tmp, path))
    classes = out / CLASSES_FILE
    tmp = out / f".{CLASSES_FILE}.import.tmp"
    tmp.write_text(json.dumps({"class_names": list(names), "palette": palette}, indent=2) + "\n")
    for a, b in [*staged, (tmp, classes)]:
        os.replace(a, b)
    return [b for _, b in staged]

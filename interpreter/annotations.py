"""Annotation masks and their pairing with W+ latents.

A folder holds PNG masks named by sample id (``12.png``, ``00000012.png``, ``sample_12.png``: the
trailing digits of the name) - 8-bit grey images whose values are class indices, or palette PNGs
whose indices are class indices - plus a class list (``classes.json`` or ``classes.txt``). If the
folder holds no PNG, its ``labels/`` sub-folder is used (the layout ``storage.export_pngs`` writes).
Each mask is paired with the W+ code of the same sample id (from a samples store or any mapping), so
the annotated image is re-rendered exactly.

Shapes: H/W mask size, L number of w vectors, D w dimension.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from datasetgan.interpreter.config import AnnotationConfig
from datasetgan.interpreter.errors import AnnotationError

IGNORE = -1  # mask value of pixels that are not used (unannotated, or a dropped small region)
CLASS_FILES = ("classes.json", "classes.txt")
_ID = re.compile(r"(\d+)$")
_INDEX_MODES = ("P", "L", "I;16", "I", "1")


@dataclass(frozen=True)
class Annotation:
    """One annotated sample: mask [H, W] int64 class indices (``IGNORE`` = not used)."""

    sample_id: int
    mask: torch.Tensor
    path: Path


@dataclass(frozen=True)
class AnnotationSet:
    """Masks of one folder and their K class names, sorted by sample id."""

    class_names: tuple[str, ...]
    items: tuple[Annotation, ...]
    folder: Path

    @property
    def ids(self) -> tuple[int, ...]:
        return tuple(a.sample_id for a in self.items)

    def __len__(self) -> int:
        return len(self.items)

    def check_shape(
        self, shape: tuple[int, int], what: str = "the generator's labelled output"
    ) -> None:
        """Refuse masks whose [H, W] differs from ``shape`` (every one named at once)."""
        problems = [_shape_problem(a, shape, what) for a in self.items]
        _refuse([p for p in problems if p is not None])

    def class_counts(self) -> torch.Tensor:
        """[K] annotated pixels per class over all masks."""
        counts = torch.zeros(len(self.class_names), dtype=torch.int64)
        for a in self.items:
            valid = a.mask[a.mask >= 0]
            counts += torch.bincount(valid, minlength=len(self.class_names))
        return counts


def read_class_names(path: str | Path) -> tuple[str, ...]:
    """K class names from ``.txt`` (one per line, blank lines skipped) or ``.json`` (a list, or an
    object with ``"class_names"``); index = class id."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise AnnotationError(
            f"{p}: cannot read the class list ({exc}); expected a readable file"
        ) from exc
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise AnnotationError(
                f"{p}: invalid JSON ({exc}); expected a list of class names"
            ) from exc
        names = data.get("class_names") if isinstance(data, dict) else data
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            raise AnnotationError(
                f'{p}: expected a JSON list of strings or {{"class_names": [...]}}'
            )
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if len(names) < 2:
        raise AnnotationError(f"{p}: got {len(names)} class names, expected at least 2")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise AnnotationError(f"{p}: duplicate class names {dupes}; expected distinct names")
    return tuple(names)


def sample_id_of(path: Path) -> int:
    """The sample id a mask file names: the trailing digits of its stem."""
    match = _ID.search(path.stem)
    if match is None:
        raise AnnotationError(
            f"{path}: no sample id in the file name; expected a name ending in digits, e.g. 00000012.png"
        )
    return int(match.group(1))


def read_mask(path: Path, *, n_classes: int, ignore_value: int | None) -> torch.Tensor:
    """Class indices [H, W] int64 of an index PNG; ``ignore_value`` becomes ``IGNORE``."""
    try:
        with Image.open(path) as img:
            mode = img.mode
            if mode not in _INDEX_MODES:
                raise AnnotationError(
                    f"{path}: PNG mode {mode!r} holds colours, not class indices; expected an 8-bit grey "
                    "('L') or palette ('P') PNG whose pixel values are class ids"
                )
            values = np.asarray(img, dtype=np.int64)
    except (OSError, SyntaxError) as exc:
        raise AnnotationError(
            f"{path}: cannot be read as an image ({exc}); expected a PNG mask"
        ) from exc
    mask = torch.from_numpy(values.copy())
    if ignore_value is not None:
        mask[mask == ignore_value] = IGNORE
    bad = torch.unique(mask[(mask >= n_classes) | (mask < IGNORE)])
    if bad.numel():
        shown = bad.tolist()[:10]
        raise AnnotationError(
            f"{path}: class id(s) {shown} outside the class list; expected values 0..{n_classes - 1}"
            + (f" (or {ignore_value} = not annotated)" if ignore_value is not None else "")
        )
    return mask


def _shape_problem(a: Annotation, shape: tuple[int, int], what: str) -> str | None:
    if tuple(a.mask.shape) == tuple(shape):
        return None
    return (
        f"{a.path}: mask is {a.mask.shape[1]}x{a.mask.shape[0]} (WxH), expected "
        f"{shape[1]}x{shape[0]} ({what})"
    )


def _refuse(problems: Sequence[str]) -> None:
    """One AnnotationError naming every problem (one line each), or nothing when there are none."""
    if len(problems) == 1:
        raise AnnotationError(problems[0])
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise AnnotationError(f"{len(problems)} masks cannot be used:\n{listed}")


def load_annotations(
    folder: str | Path,
    *,
    config: AnnotationConfig = AnnotationConfig(),
    shape: tuple[int, int] | None = None,
) -> AnnotationSet:
    """Read every mask of ``folder`` (see the module docstring). Every bad mask (no sample id, a
    duplicate id, unreadable, colours instead of class ids, unknown class ids, and with ``shape``
    a size other than [H, W]) is reported in one AnnotationError, after all were read."""
    root = Path(folder)
    if not root.is_dir():
        raise AnnotationError(
            f"{root}: not a folder; expected a folder of PNG masks and a class list"
        )
    class_file = (
        Path(config.class_file) if config.class_file is not None else _find_class_file(root)
    )
    names = read_class_names(class_file)
    mask_dir = root if any(_pngs(root)) or not (root / "labels").is_dir() else root / "labels"
    paths = sorted(_pngs(mask_dir))
    if not paths:
        raise AnnotationError(
            f"{mask_dir}: no annotations (no .png masks); expected at least one mask"
        )
    seen: dict[int, Path] = {}
    items, problems = [], []
    for p in paths:
        try:
            sid = sample_id_of(p)
            if sid in seen:
                raise AnnotationError(
                    f"{p}: duplicate sample id {sid} (also {seen[sid].name}); expected one mask per sample"
                )
            seen[sid] = p
            mask = read_mask(p, n_classes=len(names), ignore_value=config.ignore_value)
        except AnnotationError as exc:
            problems.append(str(exc))
            continue
        item = Annotation(sid, mask, p)
        bad_size = _shape_problem(item, shape, "the generator's labelled output") if shape else None
        if bad_size:
            problems.append(bad_size)
            continue
        if config.small_regions == "ignore" and config.min_region_pixels > 0:
            item = Annotation(sid, drop_small_regions(mask, config.min_region_pixels), p)
        items.append(item)
    _refuse(problems)
    items.sort(key=lambda a: a.sample_id)
    return AnnotationSet(names, tuple(items), root)


def pair_latents(annotations: AnnotationSet, latents: Mapping[int, torch.Tensor]) -> torch.Tensor:
    """W+ codes [N, L, D] of the annotated samples, in the order of ``annotations.items``."""
    missing = [a for a in annotations.items if a.sample_id not in latents]
    if missing:
        ids = [a.sample_id for a in missing]
        raise AnnotationError(
            f"{missing[0].path}: mask without a latent (sample ids {ids[:10]} not found); expected every "
            "annotated sample id to be in the samples store / latents given"
        )
    codes = [torch.as_tensor(latents[a.sample_id], dtype=torch.float32) for a in annotations.items]
    shapes = {tuple(c.shape) for c in codes}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise AnnotationError(
            f"latents: got shapes {sorted(shapes)}, expected one W+ code [L, D] per sample"
        )
    return torch.stack(codes)


def latents_from_store(
    path: str | Path, ids: Iterable[int] | None = None
) -> dict[int, torch.Tensor]:
    """W+ codes [L, D] by sample id from a samples store (its folder or data.h5); ``ids`` limits the read."""
    import h5py

    import datasetgan.storage as storage

    entry = Path(path) / "data.h5" if Path(path).is_dir() else Path(path)
    frame = storage.read_manifest(entry)
    row_of = {int(s): int(r) for r, s in zip(frame.index, frame["sample"], strict=True)}
    wanted = sorted(row_of) if ids is None else sorted({int(i) for i in ids if int(i) in row_of})
    if not wanted:
        return {}
    rows = [row_of[i] for i in wanted]
    order = np.argsort(rows)
    with h5py.File(entry, "r") as f:
        if "w_plus" not in f:
            raise AnnotationError(
                f"{entry}: store has no 'w_plus'; expected a samples store with W+ latents"
            )
        values = f["w_plus"][np.asarray(rows)[order]]
    out: dict[int, torch.Tensor] = {}
    for k, j in enumerate(order):
        out[wanted[int(j)]] = torch.from_numpy(np.asarray(values[k], dtype=np.float32))
    return out


def drop_small_regions(mask: torch.Tensor, min_pixels: int) -> torch.Tensor:
    """Set 4-connected regions (of one class) smaller than ``min_pixels`` to ``IGNORE``."""
    comp, sizes = connected_components(mask.numpy())
    small = sizes[comp] < min_pixels
    out = mask.clone()
    out[torch.from_numpy(small) & (mask >= 0)] = IGNORE
    return out


def connected_components(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """4-connected components of equal values: (component per pixel [H, W], pixels per component).

    Row runs are joined by union-find wherever vertically adjacent pixels hold the same value.
    """
    h, w = mask.shape
    starts = np.ones((h, w), dtype=bool)
    starts[:, 1:] = mask[:, 1:] != mask[:, :-1]
    run = (np.cumsum(starts.ravel()) - 1).reshape(h, w)
    same = mask[1:] == mask[:-1]
    pairs = np.unique(np.stack([run[1:][same], run[:-1][same]], axis=1), axis=0)
    parent = np.arange(int(run[-1, -1]) + 1)
    for a, b in pairs.tolist():
        ra, rb = _find(parent, a), _find(parent, b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    roots = np.array([_find(parent, i) for i in range(parent.size)])
    _, comp_of_run = np.unique(roots, return_inverse=True)
    comp = comp_of_run[run]
    return comp, np.bincount(comp.ravel())


def _find(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = int(parent[i])
    return i


def _find_class_file(root: Path) -> Path:
    for name in CLASS_FILES:
        if (root / name).is_file():
            return root / name
    raise AnnotationError(
        f"{root}: no class list; expected {' or '.join(CLASS_FILES)} (or AnnotationConfig.class_file)"
    )


def _pngs(folder: Path) -> Sequence[Path]:
    return [p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".png"]

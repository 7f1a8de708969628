"""Frozen configurations of the interpreter's parts. Derived numbers are computed, never typed.

Shape letters: C feature channels, H/W labelled image size, K classes, M ensemble members.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

ResampleMode = Literal["bilinear", "nearest"]
RESAMPLE_MODES = ("bilinear", "nearest")
SmallRegions = Literal["keep", "ignore"]
WIDE_HEAD_CLASSES = 32  # DatasetGAN: widths 256/128 instead of 128/32 from this many classes on


@dataclass(frozen=True)
class FeatureConfig:
    """How tapped feature maps become per-pixel features.

    Every tap is resampled (``mode``, ``align_corners=False``) to a ``size`` x ``size`` frame
    (``None``: the generator's resolution); ``crop = (top, left, height, width)`` then keeps a window
    of that frame. The labelled image is [H, W] = the crop's size (or size x size without a crop).
    """

    size: int | None = None
    crop: tuple[int, int, int, int] | None = None
    mode: ResampleMode = "bilinear"

    def __post_init__(self) -> None:
        if self.mode not in RESAMPLE_MODES:
            raise ValueError(
                f"FeatureConfig.mode: got {self.mode!r}, expected one of {RESAMPLE_MODES}"
            )
        if self.size is not None and self.size < 1:
            raise ValueError(f"FeatureConfig.size: got {self.size}, expected None or >= 1")
        if self.crop is not None:
            crop = tuple(int(v) for v in self.crop)
            if len(crop) != 4 or min(crop) < 0 or crop[2] < 1 or crop[3] < 1:
                raise ValueError(
                    f"FeatureConfig.crop: got {self.crop}, expected (top, left, height, width) "
                    "with non-negative offsets and positive sizes"
                )
            object.__setattr__(self, "crop", crop)

    def frame_size(self, resolution: int) -> int:
        """Side of the resampled frame for a generator of ``resolution``."""
        return resolution if self.size is None else self.size

    def output_shape(self, resolution: int) -> tuple[int, int]:
        """(H, W) of labels and features for a generator of ``resolution``; checks the crop fits."""
        side = self.frame_size(resolution)
        if self.crop is None:
            return side, side
        top, left, height, width = self.crop
        if top + height > side or left + width > side:
            raise ValueError(
                f"FeatureConfig.crop {self.crop} leaves the {side}x{side} frame; expected "
                f"top + height <= {side} and left + width <= {side}"
            )
        return height, width

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureConfig:
        crop = data.get("crop")
        return cls(
            size=data.get("size"),
            crop=None if crop is None else (int(crop[0]), int(crop[1]), int(crop[2]), int(crop[3])),
            mode=data.get("mode", "bilinear"),
        )


@dataclass(frozen=True)
class EnsembleConfig:
    """M pixel classifiers of DatasetGAN's shape: C -> H1 -> H2 -> K with ReLU + BatchNorm.

    ``hidden=None`` takes DatasetGAN's widths: (128, 32), or (256, 128) when K >= 32.
    """

    n_members: int = 10
    hidden: tuple[int, int] | None = None
    bn_eps: float = 1e-5
    bn_momentum: float = 0.1
    init_std: float = 0.02

    def __post_init__(self) -> None:
        if self.n_members < 1:
            raise ValueError(f"EnsembleConfig.n_members: got {self.n_members}, expected >= 1")
        if self.hidden is not None:
            hidden = tuple(int(h) for h in self.hidden)
            if len(hidden) != 2 or min(hidden) < 1:
                raise ValueError(
                    f"EnsembleConfig.hidden: got {self.hidden}, expected two widths >= 1"
                )
            object.__setattr__(self, "hidden", hidden)

    def widths(self, n_classes: int) -> tuple[int, int]:
        """(H1, H2) for K = ``n_classes``."""
        if self.hidden is not None:
            return self.hidden
        return (256, 128) if n_classes >= WIDE_HEAD_CLASSES else (128, 32)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnsembleConfig:
        values = dict(data)
        if values.get("hidden") is not None:
            values["hidden"] = tuple(values["hidden"])
        return cls(**values)


@dataclass(frozen=True)
class AnnotationConfig:
    """How a folder of annotation masks is read.

    class_file: the class list (``.txt`` one name per line, or ``.json``: a list or
    ``{"class_names": [...]}``); ``None`` looks for ``classes.json`` / ``classes.txt`` in the folder.
    ignore_value: mask value meaning "not annotated" (excluded from training and scoring); ``None``
    makes every value a class index.
    small_regions: ``"ignore"`` excludes connected regions (4-connected, per class) smaller than
    ``min_region_pixels`` from training and validation; ``"keep"`` uses every annotated pixel.
    """

    class_file: str | None = None
    ignore_value: int | None = 255
    small_regions: SmallRegions = "keep"
    min_region_pixels: int = 0

    def __post_init__(self) -> None:
        if self.small_regions not in ("keep", "ignore"):
            raise ValueError(
                f"AnnotationConfig.small_regions: got {self.small_regions!r}, expected 'keep' or 'ignore'"
            )
        if self.min_region_pixels < 0:
            raise ValueError(
                f"AnnotationConfig.min_region_pixels: got {self.min_region_pixels}, expected >= 0"
            )

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

"""Frozen configuration of the FPN encoders (pSp ``GradualStyleEncoder`` / e4e ``Encoder4Editing``)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from datasetgan.models.encoders.errors import EncoderConfigError

KINDS = ("psp", "e4e")
UNITS = ("ir", "ir_se")
OFFSETS = ("latent_avg", "none")
# Units per stage of the released IR(-SE) bodies; the widths are always (64, 128, 256, 512).
IR_DEPTHS = {50: (3, 4, 14, 3), 100: (3, 13, 30, 3), 152: (3, 8, 36, 3)}
RELEASED_WIDTHS = (64, 128, 256, 512)


@dataclass(frozen=True)
class EncoderConfig:
    """Architecture of an FPN encoder mapping images ``[N, input_nc, S, S]`` to W+ ``[N, L, D]``.

    The body has four stride-2 stages of IR / IR-SE bottlenecks (``units[k]`` blocks of width
    ``widths[k]``); the FPN taps the ends of stages 2, 3, 4 (spatial S/4, S/8, S/16). W+ entries
    ``[0, coarse_ind)`` read the coarsest map, ``[coarse_ind, middle_ind)`` the middle one, the rest
    the finest. ``offset="latent_avg"`` adds the generator's mean W to the output (pSp's
    ``start_from_latent_avg``). The released models are ``EncoderConfig.released(kind, n_styles)``.

    ``head_width`` is the channel count of the map-to-style convolutions (None = ``style_dim``, the
    released layout). The heads are most of the weights (their convolutions grow with its square),
    so a narrow head keeps a small encoder small; each head's linear maps ``head_width -> style_dim``.

    ``iterations > 1`` makes it a ReStyle encoder (:mod:`models.encoders.restyle`): its input is the
    image and the current reconstruction (``input_nc=6``), its output a residual added to the
    current code (``offset="none"``), applied ``iterations`` times from the mean W.
    """

    kind: str = "psp"
    n_styles: int = 18
    style_dim: int = 512
    input_size: int = 256
    input_nc: int = 3
    units: tuple[int, int, int, int] = IR_DEPTHS[50]
    widths: tuple[int, int, int, int] = RELEASED_WIDTHS
    unit: str = "ir_se"
    se_reduction: int = 16
    coarse_ind: int = 3
    middle_ind: int = 7
    offset: str = "latent_avg"
    iterations: int = 1
    head_width: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "units", tuple(int(u) for u in self.units))
        object.__setattr__(self, "widths", tuple(int(w) for w in self.widths))
        self._check_choice("kind", self.kind, KINDS)
        self._check_choice("unit", self.unit, UNITS)
        self._check_choice("offset", self.offset, OFFSETS)
        if len(self.units) != 4 or len(self.widths) != 4 or min(self.units + self.widths) < 1:
            raise EncoderConfigError(
                f"EncoderConfig: got units={self.units}, widths={self.widths}, expected 4 positive ints each"
            )
        size = self.input_size
        if size < 32 or size & (size - 1):
            raise EncoderConfigError(
                f"EncoderConfig.input_size: got {size}, expected a power of two >= 32"
            )
        if self.n_styles < 1 or self.style_dim < 1 or self.input_nc < 1:
            raise EncoderConfigError(
                f"EncoderConfig: got n_styles={self.n_styles}, style_dim={self.style_dim}, "
                f"input_nc={self.input_nc}, expected all >= 1"
            )
        if self.head_width is not None and self.head_width < 1:
            raise EncoderConfigError(
                f"EncoderConfig.head_width: got {self.head_width}, expected None (= style_dim) or >= 1"
            )
        if self.iterations < 1 or (
            self.iterations > 1 and (self.input_nc, self.offset) != (6, "none")
        ):
            raise EncoderConfigError(
                f"EncoderConfig: got iterations={self.iterations}, input_nc={self.input_nc}, "
                f"offset={self.offset!r}; expected iterations >= 1, and for ReStyle (iterations > 1) "
                "input_nc=6 and offset='none'"
            )
        if not 1 <= self.coarse_ind <= self.middle_ind:
            raise EncoderConfigError(
                f"EncoderConfig: got coarse_ind={self.coarse_ind}, middle_ind={self.middle_ind}, "
                "expected 1 <= coarse_ind <= middle_ind"
            )
        if self.unit == "ir_se" and min(self.widths) // self.se_reduction < 1:
            raise EncoderConfigError(
                f"EncoderConfig: se_reduction={self.se_reduction} leaves no channel for width "
                f"{min(self.widths)}; expected widths >= se_reduction"
            )

    @staticmethod
    def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
        if value not in allowed:
            raise EncoderConfigError(
                f"EncoderConfig.{name}: got {value!r}, expected one of {allowed}"
            )

    @classmethod
    def released(
        cls, kind: str, n_styles: int, *, depth: int = 50, input_nc: int = 3
    ) -> EncoderConfig:
        """The architecture of the released pSp / e4e checkpoints (IR-SE-``depth``, 512 wide, 256 px)."""
        if depth not in IR_DEPTHS:
            raise EncoderConfigError(
                f"released: got depth={depth}, expected one of {tuple(IR_DEPTHS)}"
            )
        return cls(kind=kind, n_styles=n_styles, units=IR_DEPTHS[depth], input_nc=input_nc)

    @classmethod
    def restyle(cls, base: EncoderConfig, iterations: int = 5) -> EncoderConfig:
        """``base``'s architecture as a ReStyle encoder (6 input channels, residual output)."""
        return dataclasses.replace(base, input_nc=6, offset="none", iterations=iterations)

    @property
    def fpn_width(self) -> int:
        """Channels of the FPN maps (the last stage's width)."""
        return self.widths[3]

    @property
    def style_head_width(self) -> int:
        """Channels of the map-to-style convolutions (``head_width``, or ``style_dim`` when None)."""
        return self.style_dim if self.head_width is None else self.head_width

    @property
    def tap_blocks(self) -> tuple[int, int, int]:
        """Body indices whose outputs are c1 (S/4), c2 (S/8), c3 (S/16)."""
        u = self.units
        return (u[0] + u[1] - 1, u[0] + u[1] + u[2] - 1, sum(u) - 1)

    def level_of(self, style: int) -> int:
        """0 = coarse (S/16 map), 1 = middle (S/8), 2 = fine (S/4) for W+ entry ``style``."""
        return 0 if style < self.coarse_ind else 1 if style < self.middle_ind else 2

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EncoderConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise EncoderConfigError(
                f"unknown encoder config keys {unknown}, expected a subset of {sorted(known)}"
            )
        return cls(**data)

"""The two stores' schemas: fields (dtype, per-sample shape, meaning), chunking, compression, classes.

Shape letters: N samples, H, W image size, L number of w vectors, D w dim, K classes.
A store is a directory of shards; every shard holds, for each field, a dataset of shape [n, *field.shape]
chunked one sample per chunk (scalar and text fields: one chunk per shard).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from pathlib import Path
from typing import Any, Literal

import h5py
import hdf5plugin
import numpy as np

from datasetgan.storage.errors import SchemaError

SCHEMA_VERSION = 1
"""Version of the on-disk layout written by this package. Readers refuse any other."""
KNOWN_SCHEMA_VERSIONS = (1,)

StoreKind = Literal["samples", "embeddings"]
Codec = Literal["zstd", "gzip", "none"]
TEXT = "utf8"
"""`FieldSpec.dtype` of variable-length UTF-8 text fields."""

_DEFAULT_LEVEL = {"zstd": 3, "gzip": 4, "none": 0}
_LEVEL_RANGE = {"zstd": (1, 22), "gzip": (0, 9), "none": (0, 0)}
_ALLOWED_DTYPES = ("uint8", "uint16", "int64", "float16", "float32", TEXT)


class EmbeddingStatus(IntEnum):
    """Values of the embeddings store's `status` field."""

    OK = 0
    READ_ERROR = 1
    ENCODE_ERROR = 2
    REFINE_ERROR = 3


@dataclass(frozen=True)
class Compression:
    """How shards are compressed: "gzip" (deflate + byte shuffle, the default: every HDF5 reader
    opens it without plugins), "zstd" (hdf5plugin; readers must ``import hdf5plugin``) or "none".

    ``images``: whether the ``image`` field is compressed too. ``None`` = the codec's choice: zstd
    compresses images; gzip keeps them raw, because inflating a 256² RGB image costs ~1.6 ms here
    (random reads fall from ~1,900 to ~550 samples/s) for a ~3 % smaller file
    (``benchmarks/storage.py``, docs/storage.md). Labels, codes and maps are always compressed.
    """

    codec: Codec = "gzip"
    level: int | None = None
    images: bool | None = None

    def __post_init__(self) -> None:
        if self.codec not in _DEFAULT_LEVEL:
            raise ValueError(f"got codec {self.codec!r}, expected one of {sorted(_DEFAULT_LEVEL)}")
        lo, hi = _LEVEL_RANGE[self.codec]
        if self.level is not None and not lo <= self.level <= hi:
            raise ValueError(f"got {self.codec} level {self.level}, expected {lo}..{hi}")

    @property
    def effective_level(self) -> int:
        return _DEFAULT_LEVEL[self.codec] if self.level is None else self.level

    @property
    def compresses_images(self) -> bool:
        return self.codec != "none" and (
            self.codec == "zstd" if self.images is None else self.images
        )

    def h5_kwargs(self, itemsize: int, field: str = "") -> dict[str, Any]:
        """Keyword arguments for `h5py.Group.create_dataset` of ``field`` (byte shuffle for
        multi-byte types; nothing for ``image`` unless :attr:`compresses_images`)."""
        if self.codec == "none" or (field == "image" and not self.compresses_images):
            return {}
        shuffle = {"shuffle": itemsize > 1}
        if self.codec == "gzip":
            return {"compression": "gzip", "compression_opts": self.effective_level, **shuffle}
        return {**hdf5plugin.Zstd(clevel=self.effective_level), **shuffle}

    def to_dict(self) -> dict[str, Any]:
        return {"codec": self.codec, "level": self.level, "images": self.images}

    def describe(self) -> str:
        """For people: "gzip 4, images raw", "zstd 3", "none"."""
        if self.codec == "none":
            return "none"
        raw = "" if self.compresses_images else ", images raw"
        return f"{self.codec} {self.effective_level}{raw}"


@dataclass(frozen=True)
class FieldSpec:
    """One dataset of a store: `dtype` (numpy name or TEXT) and per-sample `shape` (() for scalars)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    meaning: str = ""

    def __post_init__(self) -> None:
        if self.dtype not in _ALLOWED_DTYPES:
            raise ValueError(
                f"field {self.name!r}: got dtype {self.dtype!r}, expected {_ALLOWED_DTYPES}"
            )
        if any(int(s) <= 0 for s in self.shape):
            raise ValueError(
                f"field {self.name!r}: got shape {self.shape}, expected positive sizes"
            )
        if self.dtype == TEXT and self.shape:
            raise ValueError(f"field {self.name!r}: got text of shape {self.shape}, expected ()")

    @property
    def h5_dtype(self) -> Any:
        return h5py.string_dtype("utf-8") if self.dtype == TEXT else np.dtype(self.dtype)

    @property
    def per_sample_chunks(self) -> bool:
        """Array fields are chunked one sample per chunk; scalars and text one chunk per shard."""
        return bool(self.shape)

    def chunks(self, n: int) -> tuple[int, ...]:
        return (1, *self.shape) if self.per_sample_chunks else (max(n, 1),)

    def coerce(self, values: Any, n: int) -> np.ndarray:
        """Check `values` ([n, *shape]) and return it in this field's dtype; ValueError if it does not fit."""
        if self.dtype == TEXT:
            return self._coerce_text(values, n)
        arr = np.asarray(values)
        if arr.shape != (n, *self.shape):
            raise ValueError(
                f"field {self.name!r}: got shape {arr.shape}, expected {(n, *self.shape)}"
            )
        target = np.dtype(self.dtype)
        if target.kind == "f":
            if arr.dtype.kind not in "fiu":
                raise ValueError(f"field {self.name!r}: got dtype {arr.dtype}, expected {target}")
            return arr.astype(target, copy=False)
        if arr.dtype.kind not in "iu":
            raise ValueError(
                f"field {self.name!r}: got dtype {arr.dtype}, expected integers ({target})"
            )
        info = np.iinfo(target)
        if arr.size and (arr.min() < info.min or arr.max() > info.max):
            raise ValueError(
                f"field {self.name!r}: got values in [{arr.min()}, {arr.max()}], "
                f"expected [{info.min}, {info.max}] ({target})"
            )
        return arr.astype(target, copy=False)

    def _coerce_text(self, values: Any, n: int) -> np.ndarray:
        items = list(values)
        if len(items) != n or not all(isinstance(v, str) for v in items):
            raise ValueError(f"field {self.name!r}: got {len(items)} items, expected {n} str")
        return np.array(items, dtype=object)


@dataclass(frozen=True)
class StoreSpec:
    """What a store holds: its kind, fields, classes (K names, K RGB colours), shard size, compression."""

    kind: StoreKind
    fields: tuple[FieldSpec, ...]
    class_names: tuple[str, ...] = ()
    palette: tuple[tuple[int, int, int], ...] = ()
    shard_size: int = 256
    compression: Compression = Compression()

    def __post_init__(self) -> None:
        if self.kind not in ("samples", "embeddings"):
            raise ValueError(f"got kind {self.kind!r}, expected 'samples' or 'embeddings'")
        if self.shard_size < 1:
            raise ValueError(f"got shard_size {self.shard_size}, expected >= 1")
        names = [f.name for f in self.fields]
        if len(set(names)) != len(names) or not names:
            raise ValueError(f"got field names {names}, expected distinct, non-empty")
        if self.palette and len(self.palette) != len(self.class_names):
            raise ValueError(
                f"got {len(self.palette)} palette colours, expected {len(self.class_names)}"
            )
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c) for c in self.palette):
            raise ValueError(
                "got a palette entry that is not 3 values in 0..255, expected RGB triples"
            )

    def field(self, name: str) -> FieldSpec:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"no field {name!r}; this store has {[f.name for f in self.fields]}")

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def layout(self) -> dict[str, Any]:
        """The part of the spec that every shard must agree on (fields and classes)."""
        return {
            "kind": self.kind,
            "fields": [[f.name, f.dtype, list(f.shape)] for f in self.fields],
            "class_names": list(self.class_names),
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.layout(),
            "fields": [[f.name, f.dtype, list(f.shape), f.meaning] for f in self.fields],
            "palette": [list(c) for c in self.palette],
            "shard_size": self.shard_size,
            "compression": self.compression.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: str | Path) -> StoreSpec:
        """Inverse of `to_dict`; SchemaError naming `path` if `data` is not a valid spec."""
        try:
            fields = tuple(
                FieldSpec(n, d, tuple(int(s) for s in sh), m) for n, d, sh, m in data["fields"]
            )
            return cls(
                kind=data["kind"],
                fields=fields,
                class_names=tuple(str(c) for c in data["class_names"]),
                palette=tuple((int(r), int(g), int(b)) for r, g, b in data["palette"]),
                shard_size=int(data["shard_size"]),
                compression=Compression(**data["compression"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise SchemaError(
                path, f"invalid store spec ({exc})", "the spec written by storage"
            ) from exc


def check_schema_version(value: Any, path: str | Path) -> int:
    """Return `value` as an int if this package can read it, else SchemaError naming `path`."""
    try:
        version = int(value)
    except (TypeError, ValueError):
        raise SchemaError(
            path, f"schema_version {value!r} is not an integer", f"one of {KNOWN_SCHEMA_VERSIONS}"
        ) from None
    if version > max(KNOWN_SCHEMA_VERSIONS):
        raise SchemaError(
            path,
            f"schema_version {version} is newer than this reader (knows {KNOWN_SCHEMA_VERSIONS})",
            "a newer datasetgan-pipeline to read it",
        )
    if version not in KNOWN_SCHEMA_VERSIONS:
        raise SchemaError(
            path, f"unknown schema_version {version}", f"one of {KNOWN_SCHEMA_VERSIONS}"
        )
    return version


def label_dtype(n_classes: int) -> str:
    """uint8 for up to 255 classes, uint16 above."""
    if not 1 <= n_classes <= 65535:
        raise ValueError(f"got {n_classes} classes, expected 1..65535")
    return "uint8" if n_classes <= 255 else "uint16"


def default_palette(n_classes: int) -> tuple[tuple[int, int, int], ...]:
    """The PASCAL VOC colour map (class 0 black), K RGB triples."""
    colours = []
    for k in range(n_classes):
        r = g = b = 0
        c = k
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours.append((r, g, b))
    return tuple(colours)


def samples_spec(
    *,
    height: int,
    width: int,
    n_latent: int,
    w_dim: int,
    class_names: Sequence[str],
    palette: Sequence[tuple[int, int, int]] | None = None,
    uncertainty: bool = False,
    shard_size: int = 256,
    compression: Compression = Compression(),
) -> StoreSpec:
    """The samples store (generated pairs): image [N,H,W,3], label [N,H,W], w_plus [N,L,D], seed, score."""
    k = len(class_names)
    fields = [
        FieldSpec("image", "uint8", (height, width, 3), "RGB image, 0..255"),
        FieldSpec("label", label_dtype(k), (height, width), "class index per pixel, 0..K-1"),
        FieldSpec("w_plus", "float32", (n_latent, w_dim), "W+ latent code that rendered the image"),
        FieldSpec("seed", "int64", (), "seed the sample's z was drawn from"),
        FieldSpec("score", "float32", (), "image uncertainty; higher = less certain"),
    ]
    if uncertainty:
        fields.append(FieldSpec("uncertainty", "float16", (height, width), "per-pixel uncertainty"))
    pal = tuple(tuple(c) for c in palette) if palette is not None else default_palette(k)
    return StoreSpec(
        kind="samples",
        fields=tuple(fields),
        class_names=tuple(class_names),
        palette=pal,  # type: ignore[arg-type]
        shard_size=shard_size,
        compression=compression,
    )


def embeddings_spec(
    *,
    n_latent: int,
    w_dim: int,
    class_names: Sequence[str] = (),
    label_shape: tuple[int, int] | None = None,
    shard_size: int = 256,
    compression: Compression = Compression(),
) -> StoreSpec:
    """The embeddings store (real images): w_plus [N,L,D], source, metrics, status, optional label [N,H,W]."""
    nan_note = "; NaN when not computed"
    fields = [
        FieldSpec("w_plus", "float32", (n_latent, w_dim), "W+ code of the source image"),
        FieldSpec("source", TEXT, (), "path of the source image (UTF-8)"),
        FieldSpec("status", "uint8", (), "EmbeddingStatus: 0 ok, 1 read, 2 encode, 3 refine error"),
        FieldSpec("error", TEXT, (), "error text; empty when status is 0"),
        FieldSpec(
            "mse_before", "float32", (), "reconstruction MSE of the encoder's code" + nan_note
        ),
        FieldSpec(
            "lpips_before", "float32", (), "reconstruction LPIPS of the encoder's code" + nan_note
        ),
        FieldSpec("mse_after", "float32", (), "reconstruction MSE after refinement" + nan_note),
        FieldSpec("lpips_after", "float32", (), "reconstruction LPIPS after refinement" + nan_note),
    ]
    if label_shape is not None:
        if not class_names:
            raise ValueError("got label_shape without class_names, expected both")
        fields.append(
            FieldSpec("label", label_dtype(len(class_names)), label_shape, "interpreter label")
        )
    return StoreSpec(
        kind="embeddings",
        fields=tuple(fields),
        class_names=tuple(class_names),
        palette=default_palette(len(class_names)),
        shard_size=shard_size,
        compression=compression,
    )


def layout_json(spec: StoreSpec) -> str:
    """Canonical JSON of `spec.layout()`; shards store it to prove they belong to the store."""
    return json.dumps(spec.layout(), sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class Provenance:
    """Where a store's data came from: sha256 fingerprints by role, the producing config as JSON, versions."""

    fingerprints: Mapping[str, str] = field(default_factory=dict)
    config_json: str = "{}"
    package_version: str = ""
    created: str = ""

    def __post_init__(self) -> None:
        for role, digest in self.fingerprints.items():
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                raise ValueError(
                    f"fingerprint {role!r}: got {digest!r}, expected 64 lowercase hex (sha256)"
                )
        try:
            json.loads(self.config_json)
        except json.JSONDecodeError as exc:
            raise ValueError(
                f"got config_json that is not JSON ({exc}), expected JSON text"
            ) from exc

    def to_dict(self) -> dict[str, Any]:
        return {
            "fingerprints": dict(sorted(self.fingerprints.items())),
            "config_json": self.config_json,
            "package_version": self.package_version,
            "created": self.created,
        }


def sha256_file(path: str | Path, *, chunk_bytes: int = 1 << 20) -> str:
    """sha256 (hex) of a file's bytes, for `Provenance.fingerprints`."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            digest.update(block)
    return digest.hexdigest()

"""Schema declarations: fields, dtypes, coercion, compression options, spec round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datasetgan.storage import (
    Compression,
    FieldSpec,
    Provenance,
    SchemaError,
    StoreSpec,
    default_palette,
    embeddings_spec,
    samples_spec,
    sha256_file,
)
from datasetgan.storage.schema import check_schema_version
from tests.storage.helpers import tiny_spec


def test_samples_spec_fields() -> None:
    spec = samples_spec(height=4, width=6, n_latent=3, w_dim=5, class_names=["a", "b"])
    got = {f.name: (f.dtype, f.shape) for f in spec.fields}
    assert got == {
        "image": ("uint8", (4, 6, 3)),
        "label": ("uint8", (4, 6)),
        "w_plus": ("float32", (3, 5)),
        "seed": ("int64", ()),
        "score": ("float32", ()),
    }
    assert spec.field("image").chunks(10) == (1, 4, 6, 3)
    assert spec.field("seed").chunks(10) == (10,)
    assert spec.compression == Compression("gzip")  # readable by any HDF5 reader


def test_label_is_uint16_above_255_classes_and_uncertainty_is_optional() -> None:
    names = [f"c{i}" for i in range(256)]
    spec = samples_spec(height=2, width=2, n_latent=1, w_dim=1, class_names=names, uncertainty=True)
    assert spec.field("label").dtype == "uint16"
    assert spec.field("uncertainty").dtype == "float16"
    assert len(spec.palette) == 256 and len(set(spec.palette)) == 256


def test_embeddings_spec_fields() -> None:
    spec = embeddings_spec(n_latent=2, w_dim=3)
    assert spec.field_names == (
        "w_plus", "source", "status", "error", "mse_before", "lpips_before", "mse_after", "lpips_after"
    )  # fmt: skip
    with_label = embeddings_spec(n_latent=2, w_dim=3, class_names=["a"], label_shape=(4, 4))
    assert with_label.field("label").shape == (4, 4)
    with pytest.raises(ValueError, match="class_names"):
        embeddings_spec(n_latent=2, w_dim=3, label_shape=(4, 4))


def test_spec_dict_round_trip() -> None:
    spec = tiny_spec(compression=Compression("gzip", 6))
    assert StoreSpec.from_dict(json.loads(json.dumps(spec.to_dict())), "x") == spec
    with pytest.raises(SchemaError, match=r"x\.json: invalid store spec"):
        StoreSpec.from_dict({"kind": "samples"}, "x.json")


def test_coerce_checks_shape_dtype_and_range() -> None:
    f = FieldSpec("label", "uint8", (2, 2))
    assert f.coerce(np.ones((3, 2, 2), np.int64), 3).dtype == np.uint8
    with pytest.raises(ValueError, match=r"got shape \(3, 2\), expected \(3, 2, 2\)"):
        f.coerce(np.ones((3, 2)), 3)
    with pytest.raises(ValueError, match=r"got values in \[0, 300\], expected \[0, 255\]"):
        f.coerce(np.array([[[0, 300], [1, 1]]]), 1)
    with pytest.raises(ValueError, match="expected integers"):
        f.coerce(np.ones((1, 2, 2), np.float32), 1)
    assert FieldSpec("s", "float32", ()).coerce([1, 2], 2).dtype == np.float32
    with pytest.raises(ValueError, match="expected 2 str"):
        FieldSpec("t", "utf8", ()).coerce(["a", 3], 2)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"codec": "lz4"}, "expected one of"),
        ({"codec": "gzip", "level": 12}, "expected 0..9"),
        ({"codec": "zstd", "level": 0}, "expected 1..22"),
    ],
)
def test_compression_refuses_bad_options(kwargs: dict, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Compression(**kwargs)


def test_compression_kwargs() -> None:
    assert Compression("none").h5_kwargs(4) == {}
    assert Compression("gzip").h5_kwargs(4) == {
        "compression": "gzip",
        "compression_opts": 4,
        "shuffle": True,
    }
    assert Compression("zstd").h5_kwargs(1)["compression"] == 32015
    # deflate leaves images raw unless asked (inflating them costs 3x the random-read rate)
    assert Compression("gzip").h5_kwargs(1, "image") == {}
    assert Compression("gzip", images=True).h5_kwargs(1, "image")["compression"] == "gzip"
    assert Compression("zstd").h5_kwargs(1, "image")["compression"] == 32015
    assert Compression("gzip").h5_kwargs(1, "label")["compression"] == "gzip"
    assert [Compression(c).describe() for c in ("gzip", "zstd", "none")] == [
        "gzip 4, images raw", "zstd 3", "none"
    ]  # fmt: skip


def test_schema_versions() -> None:
    assert check_schema_version(np.int64(1), "f") == 1
    for bad, words in [(2, "newer"), (-1, "unknown"), ("x", "not an integer")]:
        with pytest.raises(SchemaError, match=words):
            check_schema_version(bad, "f")


def test_provenance_checks_fingerprints(tmp_path) -> None:
    p = tmp_path / "g.pt"
    p.write_bytes(b"weights")
    digest = sha256_file(p)
    assert Provenance(fingerprints={"generator": digest}).to_dict()["fingerprints"] == {
        "generator": digest
    }
    with pytest.raises(ValueError, match="expected 64 lowercase hex"):
        Provenance(fingerprints={"generator": "abc"})
    with pytest.raises(ValueError, match="not JSON"):
        Provenance(config_json="{")


def test_default_palette_is_voc() -> None:
    assert default_palette(4) == ((0, 0, 0), (128, 0, 0), (0, 128, 0), (128, 128, 0))


def test_spec_refuses_inconsistent_palette_and_duplicate_fields() -> None:
    base = tiny_spec()
    with pytest.raises(ValueError, match="palette colours"):
        StoreSpec("samples", base.fields, base.class_names, base.palette[:2])
    with pytest.raises(ValueError, match="distinct"):
        StoreSpec("samples", base.fields + base.fields[:1])

"""Dataset helpers: PNG folders, npz, tensors and the torch Dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasetgan import toyfaces
from datasetgan.interpreter.annotations import load_annotations
from datasetgan.toyfaces.data import (
    ToyFaces,
    load_npz,
    oracle_annotate_folder,
    read_png_folder,
    save_npz,
    to_tensor,
    write_png_folder,
)
from datasetgan.toyfaces.oracle import oracle_annotate


def test_png_folder_round_trip(tmp_path: Path) -> None:
    paths = write_png_folder(tmp_path / "real", [3, 11])
    assert [p.name for p in paths] == ["000003.png", "000011.png"]
    images, masks, seeds = read_png_folder(tmp_path / "real")
    ref_i, ref_m = toyfaces.render_batch([3, 11])
    assert np.array_equal(images, ref_i) and np.array_equal(masks, ref_m)
    assert seeds.tolist() == [3, 11]
    label = Image.open(tmp_path / "real" / "labels" / "000003.png")
    assert label.mode == "P"
    assert json.loads((tmp_path / "real" / "classes.json").read_text()) == list(
        toyfaces.CLASS_NAMES
    )


def test_oracle_annotates_a_folder(tmp_path: Path) -> None:
    write_png_folder(tmp_path / "real", [5, 6])
    paths = oracle_annotate_folder(tmp_path / "real" / "images", tmp_path / "ann")
    assert [p.name for p in paths] == ["000005.png", "000006.png"]
    got = np.asarray(Image.open(paths[0]))
    assert np.array_equal(got, oracle_annotate(toyfaces.render(5).image))
    assert (tmp_path / "ann" / "classes.json").exists()
    loaded = load_annotations(tmp_path / "ann")  # the interpreter reads the folder as it is
    assert loaded.class_names == toyfaces.CLASS_NAMES and loaded.ids == (5, 6)
    kept = loaded.items[0].mask >= 0  # the loader may mark tiny regions as ignored (-1)
    assert torch.equal(loaded.items[0].mask[kept], torch.from_numpy(got.astype(np.int64))[kept])
    with pytest.raises(FileNotFoundError, match="no PNG"):
        oracle_annotate_folder(tmp_path / "ann" / "nothing", tmp_path / "x")


def test_annotate_command_writes_the_oracles_masks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from datasetgan.toyfaces.__main__ import main

    write_png_folder(tmp_path / "real", [5])
    assert main(["annotate", str(tmp_path / "real" / "images"), str(tmp_path / "ann")]) == 0
    assert "1 masks under" in capsys.readouterr().out
    assert main(["annotate", str(tmp_path / "nothing"), str(tmp_path / "x")]) == 2
    assert "no PNG; expected a folder of RGB PNG images" in capsys.readouterr().err
    got = np.asarray(Image.open(tmp_path / "ann" / "000005.png"))
    assert np.array_equal(got, oracle_annotate(toyfaces.render(5).image))


def test_npz_round_trip(tmp_path: Path) -> None:
    save_npz(tmp_path / "f.npz", [1, 2])
    images, masks, seeds = load_npz(tmp_path / "f.npz")
    ref_i, ref_m = toyfaces.render_batch([1, 2])
    assert np.array_equal(images, ref_i) and np.array_equal(masks, ref_m)
    assert seeds.tolist() == [1, 2]


def test_tensor_ranges_and_dataset() -> None:
    ds = ToyFaces.from_seeds([0, 1, 2])
    image, label = ds[1]
    assert image.shape == (3, 64, 64) and image.dtype == torch.float32
    assert label.shape == (64, 64) and label.dtype == torch.int64
    assert float(image.min()) >= -1.0 and float(image.max()) <= 1.0
    unit = ToyFaces(ds.images, ds.masks, image_range="unit")
    assert torch.allclose(unit[1][0] * 2 - 1, image, atol=1e-6)
    all_images, all_labels = ds.tensors()
    assert all_images.shape == (3, 3, 64, 64) and torch.equal(all_images[1], image)
    assert torch.equal(all_labels[1], label)
    edge = to_tensor(np.array([[[0, 255, 128]]], dtype=np.uint8), image_range="signed")
    assert edge.flatten().tolist() == pytest.approx([-1.0, 1.0, 128 / 127.5 - 1], abs=1e-6)


def test_refusals() -> None:
    with pytest.raises(ValueError, match="expected uint8"):
        to_tensor(np.zeros((2, 8, 8, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="expected 'signed' or 'unit'"):
        ToyFaces(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 8), np.uint8), image_range="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"expected \[N,H,W,3\], \[N,H,W\]"):
        ToyFaces(np.zeros((1, 8, 8, 3), np.uint8), np.zeros((1, 8, 7), np.uint8))


def test_render_parallel_equals_render_batch() -> None:
    seeds = [300, 301, 302, 303, 304, 305]
    images, masks = toyfaces.render_parallel(seeds, workers=2)
    ref_i, ref_m = toyfaces.render_batch(seeds)
    assert np.array_equal(images, ref_i) and np.array_equal(masks, ref_m)

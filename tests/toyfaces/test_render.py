"""The toy-face renderer: determinism, shapes, class coverage, mask/image agreement, and the
property version 2 exists for: colour alone does not tell the classes apart."""

from __future__ import annotations

import numpy as np
import pytest

from datasetgan import toyfaces
from datasetgan.toyfaces import renderer


def test_render_is_deterministic_per_seed() -> None:
    a, b, c = toyfaces.render(7), toyfaces.render(7), toyfaces.render(8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert not np.array_equal(a.image, c.image)


def test_shapes_and_dtypes() -> None:
    s = toyfaces.render(0)
    assert s.image.shape == (64, 64, 3) and s.image.dtype == np.uint8
    assert s.mask.shape == (64, 64) and s.mask.dtype == np.uint8
    images, masks = toyfaces.render_batch([0, 1, 2])
    assert images.shape == (3, 64, 64, 3) and masks.shape == (3, 64, 64)
    assert np.array_equal(images[0], s.image) and np.array_equal(masks[0], s.mask)
    empty_i, empty_m = toyfaces.render_batch([])
    assert empty_i.shape == (0, 64, 64, 3) and empty_m.shape == (0, 64, 64)


def test_every_class_appears_across_a_batch() -> None:
    _, masks = toyfaces.render_batch(range(24))
    assert toyfaces.K >= 12 and masks.max() < toyfaces.K
    assert set(np.unique(masks).tolist()) == set(range(toyfaces.K))
    face = {toyfaces.CLASS_NAMES.index(c) for c in ("background", "skin", "eye", "nose", "lips")}
    for m in masks:  # the face itself is in every image
        assert face <= set(np.unique(m).tolist())


def test_colour_alone_does_not_decide_the_class() -> None:
    """The best colour-only labelling learnt on 60 images (each 4-bit-per-channel colour bin gets
    its most frequent class) scores far below a segnet on other images."""
    images, masks = toyfaces.render_batch(range(300, 360))
    bins = (images // 16).astype(np.int64) @ np.array([256, 16, 1])  # [N, H, W] colour bin
    votes = np.zeros((4096, toyfaces.K), np.int64)
    np.add.at(votes, (bins.ravel(), masks.ravel().astype(np.int64)), 1)
    rule = votes.argmax(1)
    test_images, test_masks = toyfaces.render_batch(range(400, 440))
    test_bins = (test_images // 16).astype(np.int64) @ np.array([256, 16, 1])
    r = toyfaces.mean_iou(rule[test_bins], test_masks, toyfaces.K)
    assert r.miou < 0.3, r.per_class
    skin, nose = toyfaces.CLASS_NAMES.index("skin"), toyfaces.CLASS_NAMES.index("nose")
    assert r.per_class[nose] < 0.05 and r.per_class[skin] < 0.6


def test_mask_is_the_plurality_of_each_block() -> None:
    rng = np.random.default_rng(0)
    lab = rng.integers(0, toyfaces.K, size=(256, 256)).astype(np.uint8)
    lab[:128] = 2  # a uniform half
    rgb = rng.random((256, 256, 3)).astype(np.float32)
    image, mask = renderer.downsample(rgb, lab)
    blocks = lab.reshape(64, 4, 64, 4).transpose(0, 2, 1, 3).reshape(64, 64, 16)
    counts = np.stack([(blocks == k).sum(-1) for k in range(toyfaces.K)], -1)
    assert np.all(counts[np.arange(64)[:, None], np.arange(64)[None, :], mask] == counts.max(-1))
    assert np.all(mask[:32] == 2)
    ref = rgb.reshape(64, 4, 64, 4, 3).mean(axis=(1, 3)) * 255
    assert np.abs(image.astype(np.float32) - ref).max() <= 0.5 + 1e-3


def test_negative_seed_is_refused() -> None:
    with pytest.raises(ValueError, match="expected an integer >= 0"):
        toyfaces.render(-1)

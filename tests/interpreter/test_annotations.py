"""Reading masks and class lists, pairing with latents, and every refusal."""

from __future__ import annotations

import json
from collections import deque
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from datasetgan.interpreter import (
    IGNORE,
    AnnotationConfig,
    AnnotationError,
    TrainConfig,
    latents_from_store,
    load_annotations,
    pair_latents,
    read_class_names,
    train_interpreter,
)
from datasetgan.interpreter.annotations import connected_components, drop_small_regions
from tests.interpreter.helpers import tiny_generator, write_annotations

NAMES = ("background", "a", "b")


def _masks(n: int, size: int = 32) -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 3, (n, size, size), generator=g)


def test_grey_and_palette_masks_read_as_indices(tmp_path: Path) -> None:
    masks = _masks(2)
    write_annotations(tmp_path / "grey", masks, [5, 12], NAMES, mode="L")
    write_annotations(tmp_path / "pal", masks, [5, 12], NAMES, mode="P")
    for sub in ("grey", "pal"):
        ann = load_annotations(tmp_path / sub)
        assert ann.class_names == NAMES and ann.ids == (5, 12)
        assert torch.equal(ann.items[0].mask, masks[0]) and torch.equal(ann.items[1].mask, masks[1])
    assert ann.class_counts().sum() == 2 * 32 * 32


def test_class_list_formats(tmp_path: Path) -> None:
    (tmp_path / "c.txt").write_text("bg\n\nhair\n  skin \n")
    (tmp_path / "c.json").write_text(
        json.dumps({"class_names": ["bg", "hair"], "palette": [[0, 0, 0]]})
    )
    (tmp_path / "l.json").write_text(json.dumps(["x", "y", "z"]))
    assert read_class_names(tmp_path / "c.txt") == ("bg", "hair", "skin")
    assert read_class_names(tmp_path / "c.json") == ("bg", "hair")
    assert read_class_names(tmp_path / "l.json") == ("x", "y", "z")
    (tmp_path / "d.txt").write_text("a\nb\na\n")
    with pytest.raises(AnnotationError, match="duplicate class names"):
        read_class_names(tmp_path / "d.txt")
    (tmp_path / "one.txt").write_text("a\n")
    with pytest.raises(AnnotationError, match="at least 2"):
        read_class_names(tmp_path / "one.txt")


def test_labels_subfolder_and_ignore_value(tmp_path: Path) -> None:
    masks = _masks(1)
    masks[0, :4] = 255
    write_annotations(tmp_path / "labels", masks, [7], NAMES)
    (tmp_path / "labels" / "classes.txt").rename(tmp_path / "classes.txt")
    ann = load_annotations(tmp_path)
    assert ann.ids == (7,) and bool((ann.items[0].mask[:4] == IGNORE).all())
    with pytest.raises(AnnotationError, match="outside the class list"):
        load_annotations(tmp_path, config=AnnotationConfig(ignore_value=None))


def test_refusals(tmp_path: Path) -> None:
    with pytest.raises(AnnotationError, match="no annotations"):
        write_annotations(tmp_path / "empty", [], [], NAMES)
        load_annotations(tmp_path / "empty")
    bad = _masks(1)
    bad[0, 0, 0] = 7
    write_annotations(tmp_path / "bad", bad, [1], NAMES)
    with pytest.raises(AnnotationError, match=r"00000001\.png: class id\(s\) \[7\] outside"):
        load_annotations(tmp_path / "bad")
    write_annotations(tmp_path / "dup", _masks(2), [3, 4], NAMES)
    (tmp_path / "dup" / "00000004.png").rename(tmp_path / "dup" / "3.png")
    with pytest.raises(AnnotationError, match="duplicate sample id 3"):
        load_annotations(tmp_path / "dup")
    write_annotations(tmp_path / "rgb", _masks(1), [1], NAMES)
    Image.new("RGB", (32, 32)).save(tmp_path / "rgb" / "00000002.png")
    with pytest.raises(AnnotationError, match="'RGB' holds colours"):
        load_annotations(tmp_path / "rgb")
    write_annotations(tmp_path / "noid", _masks(1), [1], NAMES)
    (tmp_path / "noid" / "00000001.png").rename(tmp_path / "noid" / "cat.png")
    with pytest.raises(AnnotationError, match="no sample id"):
        load_annotations(tmp_path / "noid")
    write_annotations(tmp_path / "nocls", _masks(1), [1], NAMES)
    (tmp_path / "nocls" / "classes.txt").unlink()
    with pytest.raises(AnnotationError, match="no class list"):
        load_annotations(tmp_path / "nocls")


def test_mask_size_and_missing_latent_refused(tmp_path: Path) -> None:
    g = tiny_generator()
    ws = torch.zeros(g.n_latent, g.w_dim)
    write_annotations(tmp_path / "small", _masks(1, size=16), [1], NAMES)
    with pytest.raises(AnnotationError, match=r"mask is 16x16 .*expected 32x32"):
        train_interpreter(g, tmp_path / "small", {1: ws}, TrainConfig(max_steps=1))
    write_annotations(tmp_path / "ok", _masks(2), [1, 2], NAMES)
    ann = load_annotations(tmp_path / "ok")
    with pytest.raises(AnnotationError, match=r"mask without a latent \(sample ids \[2\]"):
        pair_latents(ann, {1: ws})
    with pytest.raises(AnnotationError, match="mask without a latent"):
        train_interpreter(g, ann, {1: ws}, TrainConfig(max_steps=1))
    with pytest.raises(AnnotationError, match=r"got W\+ codes \(3, 64\), expected \[8, 64\]"):
        train_interpreter(
            g, ann, {1: torch.zeros(3, 64), 2: torch.zeros(3, 64)}, TrainConfig(max_steps=1)
        )


def test_every_bad_mask_is_reported_in_one_pass(tmp_path: Path) -> None:
    folder = tmp_path / "ann"
    masks = _masks(4)
    masks[1, 0, 0] = 9  # an unknown class id
    write_annotations(folder, masks, [1, 2, 3, 4], NAMES)
    Image.fromarray(np.zeros((16, 16), np.uint8), mode="L").save(folder / "00000003.png")
    (folder / "00000004.png").write_text("not an image")
    with pytest.raises(AnnotationError) as caught:
        load_annotations(folder, shape=(32, 32))
    lines = str(caught.value).splitlines()
    assert lines[0] == "3 masks cannot be used:" and len(lines) == 4, lines
    assert "00000002.png: class id(s) [9] outside" in lines[1]
    assert "00000003.png: mask is 16x16 (WxH), expected 32x32" in lines[2]
    assert "00000004.png" in lines[3]


def _bfs_components(mask: np.ndarray) -> int:
    seen = np.zeros(mask.shape, bool)
    count = 0
    for y, x in np.ndindex(*mask.shape):
        if seen[y, x]:
            continue
        count += 1
        todo = deque([(y, x)])
        seen[y, x] = True
        while todo:
            cy, cx = todo.popleft()
            for ny, nx in ((cy + 1, cx), (cy - 1, cx), (cy, cx + 1), (cy, cx - 1)):
                inside = 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1]
                if inside and not seen[ny, nx] and mask[ny, nx] == mask[cy, cx]:
                    seen[ny, nx] = True
                    todo.append((ny, nx))
    return count


def test_connected_components_match_flood_fill() -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        mask = (rng.random((20, 23)) < 0.45).astype(np.int64) + (rng.random((20, 23)) < 0.2)
        comp, sizes = connected_components(mask)
        assert len(sizes) == _bfs_components(mask) and sizes.sum() == mask.size
        for c in range(len(sizes)):  # each component holds one value
            assert len(np.unique(mask[comp == c])) == 1


def test_small_regions_option(tmp_path: Path) -> None:
    mask = torch.zeros(1, 32, 32, dtype=torch.int64)
    mask[0, 2:4, 2:4] = 1  # 4 pixels
    mask[0, 10:20, 10:20] = 2  # 100 pixels
    mask[0, 25, 25] = 2  # 1 pixel
    write_annotations(tmp_path, mask, [0], NAMES)
    kept = load_annotations(tmp_path).items[0].mask
    assert torch.equal(kept, mask[0])
    cleaned = load_annotations(
        tmp_path, config=AnnotationConfig(small_regions="ignore", min_region_pixels=5)
    )
    m = cleaned.items[0].mask
    assert bool((m[2:4, 2:4] == IGNORE).all()) and int(m[25, 25]) == IGNORE
    assert bool((m[10:20, 10:20] == 2).all()) and int((m == 0).sum()) == 32 * 32 - 105
    assert torch.equal(drop_small_regions(mask[0], 0), mask[0])


def test_latents_from_samples_store(tmp_path: Path) -> None:
    from datasetgan.storage import ShardedStore, samples_spec

    g = tiny_generator()
    spec = samples_spec(
        height=32, width=32, n_latent=g.n_latent, w_dim=g.w_dim, class_names=NAMES, shard_size=3
    )
    store = ShardedStore.create(tmp_path / "store", spec)
    ws = torch.randn(5, g.n_latent, g.w_dim, generator=torch.Generator().manual_seed(0))
    for slot in store.pending(5):
        n = slot.stop - slot.start
        store.write_shard(
            slot,
            {
                "image": np.zeros((n, 32, 32, 3), np.uint8),
                "label": np.zeros((n, 32, 32), np.uint8),
                "w_plus": ws[slot.start : slot.stop].numpy(),
                "seed": np.arange(slot.start, slot.stop),
                "score": np.zeros(n, np.float32),
            },
        )
    got = latents_from_store(tmp_path / "store", [4, 1, 99])
    assert sorted(got) == [1, 4]
    assert torch.equal(got[4], ws[4]) and torch.equal(got[1], ws[1])
    assert len(latents_from_store(tmp_path / "store" / "data.h5")) == 5

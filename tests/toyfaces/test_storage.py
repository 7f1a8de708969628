"""Toy faces through the project's HDF5 store and its reader, into the segmentation network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.storage import Provenance, SegmentationDataset, ShardedStore, samples_spec
from datasetgan.toyfaces.data import ToyFaces
from datasetgan.toyfaces.segnet import SegNetConfig, SegTrainConfig, evaluate_segnet, train_segnet


def _store(path: Path, seeds: list[int]) -> Path:
    spec = samples_spec(
        height=64,
        width=64,
        n_latent=2,
        w_dim=4,
        class_names=toyfaces.CLASS_NAMES,
        palette=[tuple(int(v) for v in c) for c in toyfaces.PALETTE],
        shard_size=4,
    )
    prov = Provenance(fingerprints={"generator": "ab" * 32}, config_json="{}")
    store = ShardedStore.create(path, spec, provenance=prov)
    images, masks = toyfaces.render_batch(seeds)
    for slot in store.pending(len(seeds)):
        with store.writer(slot) as writer:
            sl = slice(slot.start, slot.stop)
            writer.append(
                {
                    "image": images[sl],
                    "label": masks[sl],
                    "w_plus": np.zeros((len(images[sl]), 2, 4), np.float32),
                    "seed": np.asarray(seeds[sl], np.int64),
                    "score": np.zeros(len(images[sl]), np.float32),
                }
            )
    return path


def test_segnet_reads_the_storage_dataset(tmp_path: Path) -> None:
    ds = SegmentationDataset(_store(tmp_path / "store", list(range(6))))
    image, label = ds[2]
    ref = ToyFaces.from_seeds([2], image_range="unit")[0]
    assert torch.equal(image, ref[0]) and torch.equal(label, ref[1])
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        cfg = SegTrainConfig(steps=2, batch_size=4)
        model = train_segnet(ds, config=cfg, model_config=SegNetConfig(widths=(8, 16)))
        r = evaluate_segnet(model, ds)
    finally:
        torch.set_num_threads(before)
    assert r.per_class.shape == (toyfaces.K,) and 0.0 <= r.miou <= 1.0

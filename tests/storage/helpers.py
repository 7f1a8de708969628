"""Shared helpers of the storage tests: a tiny samples spec and a deterministic build."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from datasetgan.storage import Provenance, ShardedStore, StoreSpec, samples_spec

H, W, L, D = 8, 8, 3, 4
CLASSES = ("background", "hair", "skin")
SHARD = 4
PROVENANCE = Provenance(
    fingerprints={"generator": "ab" * 32, "interpreter": "cd" * 32},
    config_json='{"n_samples": 10}',
)


def tiny_spec(**overrides: Any) -> StoreSpec:
    kw: dict[str, Any] = {
        "height": H,
        "width": W,
        "n_latent": L,
        "w_dim": D,
        "class_names": CLASSES,
        "shard_size": SHARD,
        "uncertainty": True,
    }
    kw.update(overrides)
    return samples_spec(**kw)


def sample_batch(start: int, stop: int, *, h: int = H, w: int = W) -> dict[str, np.ndarray]:
    """Samples start..stop-1; each a pure function of its index (like the generation flow)."""
    parts = []
    for i in range(start, stop):
        rng = np.random.default_rng(1000 + i)
        parts.append(
            {
                "image": rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
                "label": rng.integers(0, len(CLASSES), (h, w), dtype=np.int64),
                "w_plus": rng.standard_normal((L, D)).astype(np.float32),
                "seed": np.int64(7_000 + i),
                "score": np.float32(rng.random()),
                "uncertainty": rng.random((h, w)).astype(np.float16),
            }
        )
    return {k: np.stack([p[k] for p in parts]) for k in parts[0]}


def build(path: Path, n: int, *, hold_at: int | None = None, batch: int = 1) -> ShardedStore:
    """Write samples 0..n-1 into the store at `path`, skipping complete shards (resume).

    hold_at: after appending sample `hold_at`, print HOLD and sleep (a test kills the process then).
    """
    store = ShardedStore.create(path, tiny_spec(), provenance=PROVENANCE, exist_ok=True)
    for slot in store.pending(n):
        with store.writer(slot) as writer:
            for i in range(slot.start, slot.stop, batch):
                writer.append(sample_batch(i, min(i + batch, slot.stop)))
                if hold_at is not None and hold_at in range(i, i + batch):
                    print("HOLD", flush=True)
                    time.sleep(600)
    return store

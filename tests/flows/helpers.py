"""Shared helpers of the flow tests: a temporary PREFECT_HOME, tiny models, synthetic annotations,
store comparison. Imported before Prefect is, so Prefect reads the test settings."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import h5py
import hdf5plugin  # noqa: F401  (zstd filter for reading stores)
import numpy as np
import torch
from PIL import Image

if "PREFECT_HOME" not in os.environ:  # .ci/run sets one; never touch the user's ~/.prefect
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="prefect-home-")
os.environ.pop("PREFECT_API_URL", None)  # the ephemeral server, unless a test starts its own
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")

import prefect.main  # noqa: F401  (Prefect's log handlers bind the real stderr, not a CliRunner's)

# The temporary server logs "Stopping ..." at exit, after pytest closed its capture streams.
logging.raiseExceptions = False
from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble  # noqa: E402
from datasetgan.models.fingerprint import state_dict_sha256  # noqa: E402
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, save_generator  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["dark", "mid", "bright"]


def tiny_generator(folder: Path, resolution: int = 16, seed: int = 0) -> Path:
    """A small seeded generator with non-zero noise strengths and biases, saved to ``folder``."""
    cfg = GeneratorConfig(
        resolution=resolution, w_dim=32, n_mlp=2, channel_base=256, channel_max=32
    )
    g = Generator(cfg, seed=seed).eval()
    rng = torch.Generator().manual_seed(seed + 100)
    with torch.no_grad():
        for p in g.parameters():
            p.add_(torch.randn(p.shape, generator=rng) * 0.1)
        g.estimate_w_avg(500)
    return save_generator(g, folder)


def random_interpreter(generator: Path, folder: Path, members: int = 3) -> Path:
    """An untrained (random) interpreter for ``generator``: enough to exercise generation."""
    from datasetgan.models.stylegan2 import load_generator

    g = load_generator(generator)
    ens = PixelEnsemble(g.feature_channels, len(CLASSES), config=EnsembleConfig(n_members=members))
    rng = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn(p.shape, generator=rng) * 0.05)
    interp = Interpreter(
        ens,
        class_names=CLASSES,
        taps=g.tap_layout,
        resolution=g.resolution,
        generator_fingerprint=state_dict_sha256(g),
    )
    return interp.save(folder)


def annotate(images: Path, out: Path, ids: list[int]) -> Path:
    """Masks a person could have painted: brightness tertiles of each image -> classes 0, 1, 2."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "classes.txt").write_text("\n".join(CLASSES) + "\n", encoding="utf-8")
    for i in ids:
        rgb = np.asarray(Image.open(images / f"{i:08d}.png").convert("RGB"), dtype=np.float32)
        grey = rgb.mean(-1)
        lo, hi = np.quantile(grey, [1 / 3, 2 / 3])
        mask = (grey > lo).astype(np.uint8) + (grey > hi).astype(np.uint8)
        Image.fromarray(mask, mode="L").save(out / f"{i:08d}.png")
    return out


def store_arrays(store: Path) -> dict[str, np.ndarray]:
    """Every dataset of a store's data.h5 (virtual datasets read through), plus the sample ids."""
    out: dict[str, np.ndarray] = {}
    with h5py.File(store / "data.h5", "r") as f:
        for name in ("image", "label", "w_plus", "seed", "score", "uncertainty"):
            if name in f:
                out[name] = f[name][...]
        out["sample"] = f["manifest"]["sample"][...]
    return out


def assert_same_store(a: Path, b: Path) -> None:
    """Equal content, dataset by dataset, bit for bit (NaN equal to NaN)."""
    x, y = store_arrays(a), store_arrays(b)
    assert sorted(x) == sorted(y)
    for name in x:
        assert x[name].shape == y[name].shape, name
        assert np.array_equal(x[name], y[name], equal_nan=x[name].dtype.kind == "f"), name


def cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path = REPO, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """``datasetgan ARGS`` in a subprocess (its own Prefect server or the one in ``env``)."""
    cmd = [sys.executable, "-m", "datasetgan.flows.cli", *args]
    env = env or dict(os.environ)
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)

"""A small run folder, as `datasetgan sample` writes it, made without Prefect (pipeline.runs)."""

from __future__ import annotations

from pathlib import Path

import torch

from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
from datasetgan.models.fingerprint import state_dict_sha256
from datasetgan.models.stylegan2 import GeneratorConfig, save_generator
from datasetgan.pipeline import runs
from datasetgan.pipeline.params import SampleParams
from tests.models.stylegan2.helpers import perturbed

CLASSES = ("background", "skin", "hair")


def make_run(root: Path, *, resolution: int = 32, n: int = 6) -> tuple[Path, Path]:
    """(run folder with n samples drawn for CLASSES, the generator's folder)."""
    config = GeneratorConfig(
        resolution=resolution, w_dim=32, n_mlp=2, channel_base=128, channel_max=16
    )
    generator = save_generator(perturbed(config), root / "generator")
    render = {"batch_size": 2}
    runs.sample(SampleParams(generator=generator, out=root / "run", n=n, shard_size=n,
                             render=render, class_names=list(CLASSES)))  # fmt: skip
    return root / "run", generator


def random_interpreter(generator: Path, folder: Path) -> Path:
    """An untrained interpreter for ``generator``: enough to rank and pre-label."""
    from datasetgan.models.stylegan2 import load_generator

    g = load_generator(generator)
    ensemble = PixelEnsemble(g.feature_channels, len(CLASSES), config=EnsembleConfig(n_members=2))
    with torch.no_grad():
        for p in ensemble.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.05)
    interp = Interpreter(ensemble, class_names=CLASSES, taps=g.tap_layout, resolution=g.resolution,
                         generator_fingerprint=state_dict_sha256(g))  # fmt: skip
    return interp.save(folder)

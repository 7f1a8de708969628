"""StyleGAN2 generator (rosinality-compatible), feature taps, checkpoint I/O, reproducible sampling."""

from datasetgan.models.stylegan2.checkpoint import (
    generator_from_rosinality_state_dict,
    load_generator,
    save_generator,
)
from datasetgan.models.stylegan2.config import GeneratorConfig
from datasetgan.models.stylegan2.generator import NOISE_MODES, Generator, SynthesisOutput, TapSpec
from datasetgan.models.stylegan2.sampling import (
    derive_seed,
    mix_styles,
    w_plus_from_seeds,
    z_from_seeds,
)

__all__ = [
    "NOISE_MODES",
    "Generator",
    "GeneratorConfig",
    "SynthesisOutput",
    "TapSpec",
    "derive_seed",
    "generator_from_rosinality_state_dict",
    "load_generator",
    "mix_styles",
    "save_generator",
    "w_plus_from_seeds",
    "z_from_seeds",
]

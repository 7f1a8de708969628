"""The shipped default models, installed with the package as data: ``default/generator`` (the
64 px StyleGAN2 of the toy domain, G_ema) and ``default/encoder`` (its e4e encoder), each a
``config.json`` + ``model.safetensors`` folder. ``training/`` (the generator's training
record) stays in the repository only."""

from pathlib import Path

DEFAULT_MODELS = Path(__file__).resolve().parent / "default"

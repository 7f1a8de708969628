"""Where pretrained weight files live on disk, computed without importing torch (the CLI checks
them before any model loads). Nothing here downloads: a missing file is the caller's error."""

from __future__ import annotations

import os
from pathlib import Path

VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet VGG16, the LPIPS trunk


def torch_hub_dir() -> Path:
    """``torch.hub.get_dir()`` without torch: ``$TORCH_HOME/hub``, else
    ``$XDG_CACHE_HOME/torch/hub``, else ``~/.cache/torch/hub``."""
    cache = os.getenv("XDG_CACHE_HOME", os.path.join("~", ".cache"))
    home = os.path.expanduser(os.getenv("TORCH_HOME", os.path.join(cache, "torch")))
    return Path(home) / "hub"


def default_trunk_path() -> Path:
    """Where torch's hub cache keeps the VGG16 ImageNet file (``$TORCH_HOME/hub/checkpoints``)."""
    return torch_hub_dir() / "checkpoints" / VGG16_FILE

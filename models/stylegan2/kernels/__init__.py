"""Optional compiled CUDA kernels for upfirdn2d and bias + leaky ReLU (inference only).

Built with ``torch.utils.cpp_extension`` (ninja) the first time a CUDA tensor asks for them, cached in
``$DATASETGAN_KERNEL_CACHE`` (default ``~/.cache/datasetgan/kernels``). If CUDA, a compiler or ninja
is missing, or the build fails, one log line says so and callers fall back to the native PyTorch ops.
Set ``DATASETGAN_KERNELS=off`` to never try. Nothing here compiles at import.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

_SOURCES = ("ops.cpp", "ops_kernel.cu")
_lock = threading.Lock()
_state: dict[str, Any] = {"tried": False, "ext": None}


def cache_dir() -> Path:
    root = os.environ.get("DATASETGAN_KERNEL_CACHE") or Path.home() / ".cache/datasetgan/kernels"
    return Path(root)


def load() -> Any | None:
    """The compiled extension module, building it on first call; None when unavailable."""
    if _state["tried"]:
        return _state["ext"]
    with _lock:
        if not _state["tried"]:
            _state["ext"] = _build()
            _state["tried"] = True
    return _state["ext"]


def _build() -> Any | None:
    if os.environ.get("DATASETGAN_KERNELS", "").lower() in {"off", "0", "false", "native"}:
        return None
    try:
        import torch
        from torch.utils import cpp_extension

        if not torch.cuda.is_available() or cpp_extension.CUDA_HOME is None:
            log.info("compiled StyleGAN2 kernels unavailable (no CUDA toolkit); using native ops")
            return None
        here = Path(__file__).parent
        build_dir = cache_dir() / f"torch{torch.__version__}"
        build_dir.mkdir(parents=True, exist_ok=True)
        return cpp_extension.load(
            name="datasetgan_stylegan2_ops",
            sources=[str(here / s) for s in _SOURCES],
            build_directory=str(build_dir),
            extra_cuda_cflags=["--use_fast_math"],
            verbose=False,
        )
    except Exception as exc:
        log.warning("building the StyleGAN2 CUDA kernels failed (%s); using native ops", exc)
        return None

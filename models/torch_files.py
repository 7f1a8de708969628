"""Reading torch files safely: ``torch.load(weights_only=True)`` with a small allow-list
(``argparse.Namespace``, which rosinality's and pSp's checkpoints pickle), never arbitrary unpickling.
Every failure (unsafe, truncated, garbage) becomes one error of the caller's choosing."""

from __future__ import annotations

import argparse
import pickle
import zipfile
from pathlib import Path
from typing import Any

import torch

from datasetgan.models.errors import CheckpointError

SAFE_GLOBALS: list[Any] = [argparse.Namespace]


def torch_load_safe(path: Path, *, error: type[Exception] = CheckpointError) -> Any:
    """``torch.load(weights_only=True)`` with the allow-list; every failure raises ``error``."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = str(exc).strip().splitlines()
        detail = next(
            (ln for ln in reason if "GLOBAL" in ln or "Unsupported" in ln),
            reason[0] if reason else "",
        )
        if "Weights only load failed" in str(exc) and "Unsupported operand" not in detail:
            raise error(
                f"{path}: refused to unpickle: the file needs arbitrary code to load ({detail.strip()}). "
                "Only tensors, dicts, lists and argparse.Namespace are allowed; re-save the weights with "
                "torch.save(model.state_dict()) where you trust the file."
            ) from exc
        raise error(f"{path}: not a PyTorch checkpoint or corrupt ({detail.strip()})") from exc
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise error(f"{path}: truncated or corrupt checkpoint ({first})") from exc
    except Exception as exc:  # the legacy unpickler raises IndexError, KeyError... on garbage
        raise error(
            f"{path}: not a PyTorch checkpoint or corrupt ({type(exc).__name__}: {exc})"
        ) from exc

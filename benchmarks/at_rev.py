"""Modules loaded by file for the benchmarks here: a sibling benchmark script (``load_module``,
e.g. ``precision.py`` reusing ``generator.py``) or a repository file as it was at a git revision,
beside the working tree's (``module_at_rev``, the A/B benchmarks ``segnet_ab.py``,
``labeller_ab.py``)."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent


def load_module(name: str, path: Path) -> ModuleType:
    """The Python file ``path`` imported as module ``name`` (registered in ``sys.modules``, which
    dataclasses need to look their module up)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"{path}: not a Python module file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def module_at_rev(rev: str, repo_path: str) -> ModuleType:
    """``repo_path`` (e.g. ``toyfaces/segnet.py``) as of git revision ``rev``, imported as
    ``<stem>_at_rev``; the rest of the package it imports is the working tree's."""
    source = subprocess.run(
        ["git", "show", f"{rev}:{repo_path}"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    name = f"{Path(repo_path).stem}_at_rev"
    with tempfile.TemporaryDirectory() as tmp:
        file = Path(tmp) / f"{name}.py"
        file.write_text(source)
        return load_module(name, file)

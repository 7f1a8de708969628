"""The one model cache of a process: models are loaded once and reused by every later shard task
(a shard task runs many times per process on a thread or Dask worker), and reloaded when a file
they came from changes. Keys name the files by path and newest modification time."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

KEEP = 2  # a run needs one set of models at a time; two lets a summary and a next run overlap

_entries: OrderedDict[Hashable, Any] = OrderedDict()
_lock = threading.Lock()


def file_stamp(path: str | Path | None) -> tuple[str, int] | None:
    """(resolved path, newest mtime in ns of the file or of the folder and its files); None for None."""
    if path is None:
        return None
    p = Path(path)
    files = [p, *sorted(p.iterdir())] if p.is_dir() else [p]
    return str(p.resolve()), max(f.stat().st_mtime_ns for f in files)


def cached(key: Hashable, load: Callable[[], T]) -> T:
    """``load()`` once per ``key`` (the last ``KEEP`` keys are kept); concurrent callers wait."""
    with _lock:
        if key in _entries:
            _entries.move_to_end(key)
            return _entries[key]
        value = load()
        _entries[key] = value
        while len(_entries) > KEEP:
            _entries.popitem(last=False)
        return value


def clear() -> None:
    """Forget every loaded model (tests; a notebook that wants the memory back)."""
    with _lock:
        _entries.clear()

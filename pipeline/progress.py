"""Progress of a running flow, for whoever shows it (the CLI's progress bar; nothing by default).

Flows call :func:`report` from the process that runs the flow; :func:`listen` installs a sink for
the duration of a block. Prefect artifacts and logs are written separately (see flows.reports).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

Sink = Callable[[str, int, int], None]
"""sink(what, done, total): e.g. ("shards", 3, 10) or ("training steps", 200, 3000)."""

_sinks: list[Sink] = []
_lock = threading.Lock()


def report(what: str, done: int, total: int) -> None:
    """Tell every installed sink that ``done`` of ``total`` ``what`` are finished."""
    with _lock:
        sinks = list(_sinks)
    for sink in sinks:
        sink(what, done, total)


@contextmanager
def listen(sink: Sink) -> Iterator[None]:
    """Install ``sink`` while the block runs."""
    with _lock:
        _sinks.append(sink)
    try:
        yield
    finally:
        with _lock:
            _sinks.remove(sink)

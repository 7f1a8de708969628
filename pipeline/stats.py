"""What shard tasks report (small values, safe to pass between processes) and the timing figures
a run's summary shows: the shard phase's span, the writer's share, and what is left for Prefect."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ShardStats:
    """What a shard task returns (small): timings in seconds and label pixels per class."""

    index: int
    n_samples: int
    compute_s: float = 0.0
    write_s: float = 0.0
    wall_s: float = 0.0
    class_pixels: list[int] = field(default_factory=list)
    pid: int = 0
    started: float = 0.0  # epoch seconds, to measure the span of a run's shard phase
    finished: float = 0.0
    cpu_s: float = 0.0  # CPU time of the worker process during the task (contention check)


def timings(stats: list[ShardStats]) -> dict[str, float]:
    """Span of the shard phase (first shard start to last shard end), the writer's share of shard
    task time (compression, fsync, rename, entry rebuild), and the CPU time shard tasks got per
    second of their wall time (1.0 per thread when the cores are free; less when others compete)."""
    if not stats:
        return {"shard_phase_s": 0.0, "writer_share": 0.0, "cpu_per_task_wall": 0.0}
    span = max(s.finished for s in stats) - min(s.started for s in stats)
    task = sum(s.wall_s for s in stats)
    return {
        "shard_phase_s": round(span, 3),
        "writer_share": round(sum(s.write_s for s in stats) / task, 4),
        "cpu_per_task_wall": round(sum(s.cpu_s for s in stats) / task, 3),
    }


def shard_rows(stats: Sequence[ShardStats], wall_s: float, workers: int) -> list[dict[str, Any]]:
    """Timing rows of a generation run: shard work, writer share, and what is left for Prefect."""
    task_s = sum(s.wall_s for s in stats)
    span = max(s.finished for s in stats) - min(s.started for s in stats) if stats else 0.0
    write_s = sum(s.write_s for s in stats)
    rows = [
        _row("shards written this run", len(stats)),
        _row("samples written this run", sum(s.n_samples for s in stats)),
        _row("flow wall time (s)", round(wall_s, 3)),
        _row("shard task time, summed (s)", round(task_s, 3)),
        _row("render + label, summed (s)", round(sum(s.compute_s for s in stats), 3)),
        _row("writing (compress, fsync, rename, entry), summed (s)", round(write_s, 3)),
        _row("writer share of shard task time", _pct(write_s, task_s)),
        _row("worker processes used", len({s.pid for s in stats}) or 0),
        _row("shard phase span (s)", round(span, 3)),
    ]
    if stats and workers == 1:
        rows.append(_row("flow time outside shard tasks (s)", round(wall_s - task_s, 3)))
    return rows


def _row(metric: str, value: Any) -> dict[str, Any]:
    return {"metric": metric, "value": value}


def _pct(part: float, whole: float) -> str:
    return f"{100.0 * part / whole:.2f}%" if whole else "n/a"

"""`datasetgan demo`: the whole mission on the shipped default models, with measured quality.

1. sample candidates with the generator (``sample_for_annotation`` flow: samples store + PNGs);
2. the oracle annotator paints the first 32 of them (``toyfaces.oracle_annotate_folder``, the
   stand-in for a person); annotation folders of the first 8, 16 and 32;
3. train the interpreter on 16 (``train_interpreter`` flow);
4. generate labelled pairs into ``<out>/dataset`` (``generate_dataset`` flow);
5. the same for 8 and 32 annotations, without Prefect (``pipeline.runs``), for the curve;
6. HandsOff: an interpreter from 16 real renders with exact masks through inversion, its dataset;
7. embed real procedural images into W+ (``embed_dataset`` flow, labels from the interpreter);
8. measure (libraries): the fair comparison (the same segnet trained on as many real renders with
   exact masks as annotated samples, on the generated pairs, on them without the most uncertain,
   and on HandsOff's pairs, over 3 seeds, tested on real renders), interpreter-annotator
   agreement, real-image labels;
9. write ``report.md`` and its PNGs.

Every step writes ``<out>/steps/<name>.json`` (its results and seconds) when it finishes; a re-run
skips finished steps (and the flows resume their stores), so an interrupted demo continues.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from datasetgan.demo.config import (
    IMPLIED_BY_OLDER_RUNS,
    RUN_FILE,
    DemoConfig,
    StepLog,
    resolve_precision,
)
from datasetgan.demo.errors import DemoError
from datasetgan.demo.evaluation import save_json
from datasetgan.demo.report import write_report
from datasetgan.demo.steps import STEPS, Step
from datasetgan.pipeline import progress


def run_demo(
    cfg: DemoConfig,
    *,
    say: Callable[[str], None] = print,
    only: Sequence[str] | None = None,
    report: bool = True,
    fresh: bool = False,
) -> Path:
    """Run (or resume) every step (or the ``only`` ones, in order), then write the report; returns
    the report's path (or the step results' folder with ``report=False``). A folder left by a run
    with other models or settings is refused, or with ``fresh=True`` emptied first."""
    # absolute paths: the flows link their previews by file URI, and stores record model paths
    cfg = replace(
        cfg, out=cfg.out.resolve(), generator=cfg.generator.resolve(), encoder=cfg.encoder.resolve()
    )
    cfg = resolve_precision(cfg)
    check_previous(cfg, fresh=fresh)
    cfg.out.mkdir(parents=True, exist_ok=True)
    save_json(cfg.out / RUN_FILE, run_identity(cfg))
    log = StepLog()
    steps = [s for s in STEPS if only is None or s[0] in only]
    total = len(steps) + int(report)
    for k, (key, title, fn) in enumerate(steps):
        progress.report("demo steps", k, total)
        log.results[key] = _run_step(cfg, key, title, fn, log, say)
    if not report:
        return cfg.out / "steps"
    say("10. report ...")
    path = write_report(cfg, log)
    progress.report("demo steps", total, total)
    return path


def run_identity(cfg: DemoConfig) -> dict[str, Any]:
    """What a run's results depend on: its settings and the sha256 of every model file."""
    from datasetgan.storage import sha256_file

    files = sorted(p for d in (cfg.generator, cfg.encoder) for p in _files(d))
    return {"config": cfg.to_dict(), "models": {str(p): sha256_file(p) for p in files}}


def _files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def check_previous(cfg: DemoConfig, *, fresh: bool) -> None:
    """Resume only a run made with the same models and settings; ``fresh`` empties the folder."""
    path = cfg.out / RUN_FILE
    if fresh and cfg.out.exists():
        shutil.rmtree(cfg.out)
    if not path.is_file():
        if cfg.out.is_dir() and any(cfg.out.iterdir()):
            raise DemoError(
                f"out {cfg.out}",
                f"not empty and not a demo folder (no {RUN_FILE})",
                "a new or empty folder, or a demo folder to resume",
            )
        return
    before, now = json.loads(path.read_text(encoding="utf-8")), run_identity(cfg)
    recorded = IMPLIED_BY_OLDER_RUNS | before.get("config", {})
    # a setting the folder's run did not have yet (a newer demo's step) does not refuse it, unless
    # it changes a step that run made (IMPLIED_BY_OLDER_RUNS: the value that run had)
    changed = [k for k in now["config"] if k in recorded and recorded[k] != now["config"][k]]
    if before.get("models") != now["models"]:
        changed.append("model files")
    if changed:
        raise DemoError(
            f"out {cfg.out}",
            f"made by a run with other {', '.join(changed)}",
            "the same to resume (use --fresh to start over in this folder, or another --out)",
        )


def _run_step(
    cfg: DemoConfig, key: str, title: str, fn: Step, log: StepLog, say: Callable[[str], None]
) -> dict[str, Any]:
    path = cfg.out / "steps" / f"{key}.json"
    if path.is_file():
        log.reused.append(key)
        say(f"{title}: done before, skipped")
        return dict(json.loads(path.read_text(encoding="utf-8")))
    say(f"{title} ...")
    t0 = time.perf_counter()
    result = fn(cfg) | {"seconds": time.perf_counter() - t0}
    save_json(path, result)
    say(f"{title}: {result['seconds']:.1f} s")
    return result

"""The studio's state behind the web app: the queue (annotation order, scores, statuses), the
interpreter's pre-labels, and "retrain now" running in a background thread.

With an interpreter, the queue puts the most uncertain samples first (``interpreter.rank_candidates``:
mean mutual information of the ensemble over the top pixels); without one, samples go by id. A
retrain trains a new interpreter on every mask saved so far, with the same recipe as
``datasetgan train-interpreter`` (``pipeline.runs``), into ``RUN/interpreter-studio``, then ranks
the queue again with it.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from datasetgan.annotate.errors import StudioError
from datasetgan.annotate.folder import RunFolder
from datasetgan.pipeline.errors import PipelineError, is_user_error

log = logging.getLogger(__name__)

STUDIO_INTERPRETER = "interpreter-studio"


@dataclass
class Job:
    """The background job's state, as the page polls it."""

    state: str = "idle"  # idle | running | done | failed
    what: str = ""
    done: int = 0
    total: int = 0
    message: str = ""
    started: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"state": self.state, "what": self.what, "done": self.done, "total": self.total,
                "message": self.message, "seconds": time.time() - self.started if self.started else 0}  # fmt: skip


@dataclass
class Studio:
    """One run folder being annotated; thread-safe (the server runs handlers in threads)."""

    folder: RunFolder
    generator: Path | None = None
    interpreter: Path | None = None
    train_steps: int = 1500
    scores: dict[int, float] = field(default_factory=dict)
    job: Job = field(default_factory=Job)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _models: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: Path, *, interpreter: Path | None = None, generator: Path | None = None,
             classes: list[str] | None = None, train_steps: int = 1500) -> Studio:  # fmt: skip
        folder = RunFolder.open(root, classes=classes)
        studio = cls(folder, generator or _store_generator(folder), interpreter, train_steps)
        if interpreter is not None:
            studio.rank()
        return studio

    # -- the queue ---------------------------------------------------------------------------------
    def samples(self) -> list[dict[str, Any]]:
        """Every sample as {id, status, score}, in annotation order (most uncertain first)."""
        done, skipped = self.folder.annotated(), self.folder.skipped()
        with self._lock:
            scores = dict(self.scores)
        order = sorted(self.folder.ids, key=lambda i: (-scores.get(i, -1.0), i))
        status = {i: "done" if i in done else "skipped" if i in skipped else "todo" for i in order}
        return [{"id": i, "status": status[i], "score": scores.get(i)} for i in order]

    def rank(self) -> None:
        """Score every sample with the current interpreter (most uncertain first)."""
        from datasetgan.interpreter import latents_from_store, rank_candidates

        generator, interp = self._loaded()
        latents = latents_from_store(self.folder.samples, self.folder.ids)
        ranked = rank_candidates(interp, generator, latents, progress=self._report("ranking"))
        with self._lock:
            self.scores = {c.sample_id: c.score for c in ranked}

    # -- pre-labels ---------------------------------------------------------------------------------
    def prelabel(self, sample_id: int) -> np.ndarray:
        """The interpreter's labels of a sample, uint8 [H, W] (StudioError without one)."""
        import torch

        from datasetgan.interpreter import latents_from_store

        self.folder.check_id(sample_id)
        generator, interp = self._loaded()
        ws = latents_from_store(self.folder.samples, [sample_id])[sample_id][None]
        with torch.no_grad():
            _, result = interp.render_and_label(generator, ws)
        return result.labels[0].numpy().astype(np.uint8)

    def _loaded(self) -> tuple[Any, Any]:
        from datasetgan.interpreter import load_interpreter
        from datasetgan.models.stylegan2 import load_generator

        if self.interpreter is None:
            raise StudioError(
                "interpreter",
                "none yet",
                "--interpreter, or 'Retrain now' once some masks are saved",
            )
        if self.generator is None:
            raise StudioError("generator", "unknown", "--generator (the store does not name one)")
        with self._lock:
            if self._models.get("key") != (self.generator, self.interpreter):
                g = load_generator(self.generator)
                self._models = {"key": (self.generator, self.interpreter), "generator": g,
                                "interpreter": load_interpreter(self.interpreter, generator=g)}  # fmt: skip
            return self._models["generator"], self._models["interpreter"]

    # -- retrain now ---------------------------------------------------------------------------------
    def start_retrain(self) -> dict[str, Any]:
        """Start training on the masks saved so far (StudioError if one is running or too few)."""
        with self._lock:
            if self.job.state == "running":
                raise StudioError("retrain", "one is already running", "to wait for it")
        if len(self.folder.annotated()) < 2:
            raise StudioError(
                "retrain", f"{len(self.folder.annotated())} masks saved", "at least 2"
            )
        if self.generator is None:
            raise StudioError("generator", "unknown", "--generator (the store does not name one)")
        self.job = Job("running", "starting", started=time.time())
        threading.Thread(target=self._retrain, name="studio-retrain", daemon=True).start()
        return self.job.to_dict()

    def _retrain(self) -> None:
        from datasetgan.pipeline import progress, runs
        from datasetgan.pipeline.params import TrainInterpreterParams

        out = self.folder.root / STUDIO_INTERPRETER
        try:
            params = TrainInterpreterParams(
                generator=self.generator, annotations=self.folder.annotations,
                samples=self.folder.samples, out=out, max_steps=self.train_steps,
            )  # fmt: skip
            with progress.listen(lambda what, done, total: self._set_job(what, done, total)):
                result = runs.train_interpreter(params)
            self.interpreter = out
            self.rank()
            self._set_job("done", 1, 1, f"validation mIoU {result['val_miou']:.3f}", state="done")
        except Exception as exc:  # shown on the page; the server keeps running
            if not is_user_error(exc):
                log.exception("retrain failed")  # a bug: keep its traceback in the server's log
            self._set_job("failed", 0, 0, str(exc).splitlines()[0][:400], state="failed")

    def _set_job(
        self, what: str, done: int, total: int, message: str = "", *, state: str = "running"
    ) -> None:
        with self._lock:
            self.job = Job(state, what, done, total, message or self.job.message, self.job.started)

    def _report(self, what: str) -> Any:
        def sink(done: int, total: int) -> None:
            if self.job.state == "running":
                self._set_job(what, done, total)

        return sink


def _store_generator(folder: RunFolder) -> Path | None:
    """The generator the samples were drawn with, as the store's recipe records it."""
    from datasetgan.pipeline.recipes import Recipe
    from datasetgan.storage import ShardedStore, StorageError

    try:
        path = Path(Recipe.from_store(ShardedStore.open(folder.samples)).generator)
    except (StorageError, PipelineError):  # no readable recipe: the user passes --generator
        return None
    return path if path.exists() else None

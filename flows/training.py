"""Flow train_interpreter: annotation masks + the samples they were drawn from -> interpreter + report."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger

from datasetgan.flows import tasks
from datasetgan.flows.artifacts import artifact_key, publish_markdown, publish_table
from datasetgan.pipeline.interpreting import report_rows, result
from datasetgan.pipeline.params import TrainInterpreterParams


@flow(name="train_interpreter")
def train_interpreter(params: TrainInterpreterParams) -> dict[str, Any]:
    """Train the pixel-classifier ensemble on annotated samples; save it with a validation report."""
    logger = get_run_logger()
    # 1. Check the annotations against the generator and the samples store (nothing trained yet).
    found = tasks.check_annotations(params)
    logger.info("%d annotated samples, classes %s", found["annotated"], found["class_names"])
    # 2. Train the ensemble and save it (with report.json).
    report = tasks.fit_interpreter(params)
    # 3. Preview validation images, suggest what to annotate next, publish the report.
    review = tasks.review_interpreter(params, report)
    key = artifact_key("interpreter", params.out)
    publish_table(key, report_rows(report), f"Interpreter training: {params.out}")
    lines = [f"- interpreter: `{params.out}` (report: `{params.out / 'report.json'}`)"]
    if review["suggestions"]:
        ids = ", ".join(str(s["sample"]) for s in review["suggestions"])
        lines.append(f"- annotate next (most uncertain first): {ids}")
    publish_markdown(f"{key}-report", "Interpreter training", lines, Path(review["preview"]))
    return result(params, report, review)

"""The demo's report: ``report.md`` with the measured figures and the PNGs it shows.

Numbers come only from the run's step results (``<out>/steps/*.json``) and its stores.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasetgan import toyfaces
from datasetgan.demo.comparison import nanmean_columns
from datasetgan.demo.config import DemoConfig, StepLog
from datasetgan.demo.steps import STEPS, annotated_pairs
from datasetgan.models.imaging import grid_image, heat, overlay, save_png, to_uint8
from datasetgan.storage import read_fields

PALETTE = np.asarray(toyfaces.PALETTE, dtype=np.uint8)
SHOW = 8


def _columns(path: Path, columns: Sequence[np.ndarray], *, scale: int = 2) -> Path:
    """One row per item, one column per uint8 [N, H, W, 3] array, each tile enlarged ``scale`` x."""
    tiles = np.stack([c[i] for i in range(len(columns[0])) for c in columns])
    tiles = tiles.repeat(scale, axis=1).repeat(scale, axis=2)
    return save_png(grid_image(tiles, cols=len(columns)), path)


def _overlays(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([overlay(i, lab, PALETTE) for i, lab in zip(images, labels, strict=True)])


def _masks(labels: np.ndarray) -> np.ndarray:
    """Label maps [N, H, W] in the palette's colours (uint8 [N, H, W, 3])."""
    return toyfaces.colour_mask(np.clip(labels, 0, len(PALETTE) - 1))


def _heats(maps: np.ndarray) -> np.ndarray:
    vmax = float(np.max(maps)) if maps.size else 1.0
    return np.stack([heat(m, vmax) for m in maps])


def _precision_words(precision: str) -> str:
    return "bfloat16 matmuls and convolutions" if precision == "bf16" else "float32"


def figure_samples(cfg: DemoConfig, fig: Path) -> Path:
    rows = read_fields(cfg.out / "candidates" / "samples", ("image",))
    tiles = rows["image"].repeat(2, axis=1).repeat(2, axis=2)
    return save_png(grid_image(tiles, cols=8), fig / "samples.png")


def figure_annotations(cfg: DemoConfig, fig: Path) -> Path:
    images, masks = annotated_pairs(cfg)
    pairs = np.stack([t for i, m in zip(images, _masks(masks), strict=True) for t in (i, m)])
    pairs = pairs.repeat(2, axis=1).repeat(2, axis=2)
    return save_png(grid_image(pairs, cols=8), fig / "annotations.png")


def figure_dataset(cfg: DemoConfig, fig: Path) -> tuple[Path, Path]:
    """Generated samples: image | labels over it | labels | oracle labels | uncertainty; and the most
    certain vs the most uncertain samples of the evaluated part."""
    fields = ("image", "label", "uncertainty", "score")
    rows = read_fields(cfg.out / "dataset", fields, stop=cfg.n_eval_generated)
    unc = rows["uncertainty"].astype(np.float32)
    pick = np.arange(min(SHOW, len(rows["image"])))
    oracle = toyfaces.oracle_annotate_batch(rows["image"][pick])
    first = _columns(
        fig / "dataset.png",
        [
            rows["image"][pick],
            _overlays(rows["image"][pick], rows["label"][pick]),
            _masks(rows["label"][pick]),
            _masks(oracle),
            _heats(unc[pick]),
        ],
    )
    order = np.argsort(rows["score"], kind="stable")
    k = min(SHOW // 2, len(order))
    ends = np.concatenate([order[:k], order[-k:]])
    second = _columns(
        fig / "uncertainty.png",
        [
            rows["image"][ends],
            _masks(rows["label"][ends]),
            _heats(unc[ends]),
        ],
    )
    return first, second


@torch.no_grad()
def figure_reconstructions(cfg: DemoConfig, fig: Path) -> Path:
    """Real images: input | reconstruction (stored W+) | interpreter labels | exact mask."""
    from PIL import Image

    from datasetgan.models.stylegan2 import load_generator

    rows = read_fields(cfg.out / "embeddings", ("source", "w_plus", "label"), stop=SHOW)
    sources = [Path(s) for s in rows["source"]]
    inputs = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in sources])
    exact = np.stack([np.asarray(Image.open(p.parent.parent / "labels" / p.name)) for p in sources])
    g = load_generator(cfg.generator)
    recon = to_uint8(
        g.synthesize(torch.from_numpy(rows["w_plus"]), noise_mode="const", taps="none").image
    )
    return _columns(
        fig / "reconstructions.png",
        [inputs, recon, _masks(rows["label"]), _masks(exact)],
    )


# -- markdown ------------------------------------------------------------------------------------
def _validation(val_miou: float) -> str:
    if math.isnan(float(val_miou)):
        return "all of them: none held out; (d) below scores it on held-out generated samples"
    return f"validation mIoU {_f(val_miou)} on held-out annotated images"


def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if math.isnan(v) else f"{v:.{digits}f}"


def _pm(row: dict[str, Any]) -> str:
    return f"**{_f(row['mean'])}** ± {_f(row['std'])}"


def comparison_table(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> list[str]:
    """(a)-(d) for the main annotation count, each mean ± std over the seeds."""
    rows, n, iq = r["segnet"]["rows"], cfg.n_annotate, r["interpreter_quality"]
    a, b, c = rows[f"real-{n}"], rows[f"generated-{n}"], rows[f"generated_drop-{n}"]
    h = rows[f"handsoff-{n}"]
    seeds = len(cfg.seeds)
    return [
        f"| | mIoU on {a['n_test']} real renders (exact masks), mean ± std over {seeds} seeds |",
        "|---|---|",
        f"| (a) segnet on **{n} real renders with exact masks** | {_pm(a)} |",
        f"| (b) segnet on the **{b['n_train']} generated pairs** (from {n} annotated samples) | {_pm(b)} |",
        f"| (c) (b) without the {cfg.drop_uncertain:.0%} most uncertain ({c['n_train']} pairs) | {_pm(c)} |",
        f"| HandsOff: segnet on {h['n_train']} pairs generated with an interpreter trained on the (a) "
        f"renders of seed 0 through inversion (no generated sample annotated; {_handsoff_inversion(cfg, r)}) | {_pm(h)} |",
        f"| (d) interpreter–annotator **agreement** on {len(cfg.seeds)} x {cfg.n_eval_generated} held-out "
        f"generated samples (agreement with the oracle annotator, not accuracy) | {_pm(iq)} |",
    ]  # fmt: skip


def _handsoff_inversion(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> str:
    """How the HandsOff row's real images were inverted, and the mask share left out of training."""
    step = r["handsoff"]
    mse = _f(step["median_mse"], 4)
    text = f"encoder + {cfg.handsoff_refine_steps} refinement steps, median MSE {mse}"
    if cfg.handsoff_max_pixel_error is None:
        return text
    return (f"{text}; mask pixels reconstructed more than {cfg.handsoff_max_pixel_error} off "
            f"left out: {_f(100 * step['left_out'], 0)} %")  # fmt: skip


def verdict(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> str:
    """One sentence that follows the measurement: does (b) beat (a), by how much, how surely."""
    rows, n = r["segnet"]["rows"], cfg.n_annotate
    a, b = rows[f"real-{n}"], rows[f"generated-{n}"]
    gap = b["mean"] - a["mean"]
    spread = max(a["std"], b["std"])
    if gap > 0 and gap > spread:
        return (f"The generated dataset **beats** {n} real annotated images by {gap:+.3f} mIoU "
                f"(more than the seeds' spread, {spread:.3f}).")  # fmt: skip
    if gap > 0:
        return (f"The generated dataset is ahead of {n} real annotated images by {gap:+.3f} mIoU, "
                f"**within** the seeds' spread ({spread:.3f}): not a clear win.")  # fmt: skip
    return (f"The generated dataset does **not** beat {n} real annotated images: {gap:+.3f} mIoU "
            f"(seeds' spread {spread:.3f}).")  # fmt: skip


def curve_table(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> list[str]:
    rows = r["segnet"]["rows"]
    out = ["| annotations | (a) real renders, exact masks | (b) generated pairs | (b) - (a) |",
           "|---|---|---|---|"]  # fmt: skip
    for n in cfg.annotation_counts:
        a, b = rows[f"real-{n}"], rows[f"generated-{n}"]
        out.append(f"| {n} | {_pm(a)} | {_pm(b)} | {b['mean'] - a['mean']:+.3f} |")
    return out


def figure_curve(cfg: DemoConfig, r: dict[str, dict[str, Any]], fig: Path) -> Path:
    from datasetgan.demo.plot import line_chart

    rows, counts = r["segnet"]["rows"], list(cfg.annotation_counts)
    series = {
        "(a) real renders, exact masks": ([rows[f"real-{n}"]["mean"] for n in counts],
                                          [rows[f"real-{n}"]["std"] for n in counts]),
        "(b) generated pairs": ([rows[f"generated-{n}"]["mean"] for n in counts],
                                [rows[f"generated-{n}"]["std"] for n in counts]),
    }  # fmt: skip
    return line_chart(fig / "curve.png", counts, series, x_label="annotated images",
                      y_label="segnet mIoU on real renders")  # fmt: skip


def per_class_table(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> list[str]:
    names = toyfaces.CLASS_NAMES
    rows, n = r["segnet"]["rows"], cfg.n_annotate
    entries = [
        (f"(a) {n} real", rows[f"real-{n}"]["per_class"]),
        (f"(b) generated ({n} annotated)", rows[f"generated-{n}"]["per_class"]),
        ("(c) uncertain dropped", rows[f"generated_drop-{n}"]["per_class"]),
        ("HandsOff", rows[f"handsoff-{n}"]["per_class"]),
        ("(d) interpreter vs annotator", _mean_per_class(r["interpreter_quality"])),
        ("real images via encoder", r["embedding_quality"]["labels"]["per_class"]),
    ]
    out = ["| | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for name, values in entries:
        out.append(f"| {name} | " + " | ".join(_f(v, 2) for v in values) + " |")
    return out


def _mean_per_class(iq: dict[str, Any]) -> list[float]:
    return [float(v) for v in nanmean_columns([q["all"]["per_class"] for q in iq["per_seed"]])]


def embedding_lines(r: dict[str, dict[str, Any]]) -> list[str]:
    emb, trunk = r["embedding_quality"], r["embed"]["lpips_trunk"]
    lines = [
        f"- reconstruction MSE (images in [-1, 1], median): encoder {_f(emb['mse_before'], 4)}, "
        f"after refinement {_f(emb['mse_after'], 4)}; files that failed: {emb['n_failed']}",
    ]
    if trunk == "none":
        lines.append(
            "- LPIPS was **not used**: the VGG16 ImageNet file (`vgg16-397923af.pth`) is not in the "
            "torch hub cache, so refinement optimised MSE only and LPIPS figures are n/a."
        )
    else:
        lines.append(
            f"- LPIPS (VGG16 ImageNet) median: encoder {_f(emb['lpips_before'])}, "
            f"refined {_f(emb['lpips_after'])}"
        )
    return lines


def _models_lines(cfg: DemoConfig) -> list[str]:
    import json

    from datasetgan.models.fingerprint import state_dict_sha256
    from datasetgan.models.stylegan2 import load_generator

    g = load_generator(cfg.generator)
    meta = json.loads((cfg.encoder / "config.json").read_text(encoding="utf-8"))
    enc = meta.get("config", {})
    return [
        f"- generator `{cfg.generator}`: {g.resolution} px, W dim {g.w_dim}, L = {g.n_latent}, "
        f"{sum(p.numel() for p in g.parameters()):,} parameters, sha256 {state_dict_sha256(g)[:16]}...",
        f"- encoder `{cfg.encoder}`: {enc.get('kind')} {enc.get('input_size')} px, widths "
        f"{enc.get('widths')}, trained {meta.get('metadata', {}).get('steps')} steps",
    ]


def editing_lines(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> list[str]:
    """The editing examples: a row per edit kind, then the figure (rows: the kinds edited)."""
    e = r["edit"]
    lines = [
        f"One generated sample per kind (the first of z seeds {cfg.edit_first_seed}+ whose "
        f"interpreter labels it applies to), edited for {e['steps']} steps; judged on the oracle "
        "annotator's labels of the edited image (targets: in-region IoU >= 0.75, outside change "
        "<= 0.03; `benchmarks/editing.py` measures 50 sources per kind and transferred vectors).",
        "",
        "| edit | seed | changed pixels | oracle IoU with the target in the region | mean change outside (0-1) | seconds |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    edited = []
    for kind in e["kinds"].values():
        if kind["seed"] is None:
            lines.append(f"| {kind['title']} | none of 64 samples | | | | |")
            continue
        edited.append(kind["title"])
        lines.append(
            f"| {kind['title']} | {kind['seed']} | {kind['changed_pixels']} | "
            f"{_f(kind['iou_in_region'])} | {_f(kind['change_outside'], 4)} | {kind['seconds']:.1f} |"
        )
    if e["figure"]:
        rel = Path(e["figure"]).relative_to(cfg.out).as_posix()
        lines += ["", f"Rows: {', '.join(edited)}; columns: source | edited | oracle labels "
                  f"before | after.", "", f"![editing]({rel})"]  # fmt: skip
    return lines


def timings_table(log: StepLog) -> list[str]:
    out = ["| step | seconds |", "|---|---|"]
    total = 0.0
    for key, title, _ in STEPS:
        s = float(log.results[key]["seconds"])
        total += s
        note = " (this run reused it)" if key in log.reused else ""
        out.append(f"| {title}{note} | {s:.1f} |")
    out.append(f"| **total (steps)** | **{total:.1f}** |")
    wall = time.perf_counter() - log.started
    out += [
        "",
        f"This invocation, up to the figures of the report: {wall:.1f} s wall. Step 1 includes "
        "starting Prefect's temporary server (once per process). Shards and segnet runs went two "
        "at a time, one torch thread each.",
    ]
    return out


def write_report(cfg: DemoConfig, log: StepLog) -> Path:
    """Write the PNGs and ``report.md`` into ``cfg.out``; returns the report's path."""
    fig = cfg.out / "figures"
    r = log.results
    pictures = {
        "samples": figure_samples(cfg, fig),
        "annotations": figure_annotations(cfg, fig),
        "curve": figure_curve(cfg, r, fig),
        "recon": figure_reconstructions(cfg, fig),
    }
    pictures["dataset"], pictures["uncertain"] = figure_dataset(cfg, fig)
    rel = {k: p.relative_to(cfg.out).as_posix() for k, p in pictures.items()}
    it, n = r["interpreter"], cfg.n_annotate
    lines = [
        "# datasetgan demo report",
        "",
        f"Output folder `{cfg.out}`. Every number below was measured by this run "
        "(`steps/*.json` hold the raw values).",
        "",
        *_models_lines(cfg),
        f"- {cfg.n_candidates} candidates sampled; the oracle annotator (an expert net that sees "
        f"pixels only) painted the first {max(cfg.annotation_counts)}; the interpreter "
        f"({cfg.interpreter_members} members) trained on the first {n} for {it['steps']} steps "
        f"of {cfg.interpreter_batch_size} pixels per member ({_validation(it['val_miou'])}); "
        f"{r['generate']['n']} labelled pairs generated into `{r['generate']['store']}`; "
        f"{r['embed']['n']} real images embedded into `{r['embed']['store']}`",
        f"- training steps of every interpreter and segnet: {_precision_words(cfg.precision)} "
        "(`datasetgan demo --precision`; weights, losses and optimisers in float32)",
        "",
        "## The fair comparison",
        "",
        f"The same segnet ({cfg.segnet_steps} steps, the same augmentation, "
        f"{_precision_words(cfg.precision)}) trained on each "
        f"training set, tested on the same {cfg.n_real_test} real renders with exact masks; each "
        f"seed sets the segnet's initialisation and batches, and for (a) which {n} real renders.",
        "",
        *comparison_table(cfg, r),
        "",
        verdict(cfg, r),
        "",
        "By the number of annotated images (e):",
        "",
        *curve_table(cfg, r),
        "",
        f"![curve]({rel['curve']})",
        "",
        "Per class (IoU; (a)-(c) averaged over the seeds):",
        "",
        *per_class_table(cfg, r),
        "",
        "## Real images in W+",
        "",
        *embedding_lines(r),
        f"- labels of real images (encoder -> generator -> interpreter) vs exact masks: mIoU "
        f"{_f(r['embedding_quality']['labels']['miou'])}",
        "",
        "## Editing through labels (EditGAN)",
        "",
        *editing_lines(cfg, r),
        "",
        "## Timings",
        "",
        *timings_table(log),
        "",
        "## Pictures",
        "",
        f"Candidates drawn for annotation:\n\n![samples]({rel['samples']})",
        "",
        f"The {n} annotated candidates (pairs: image | oracle mask):\n\n"
        f"![annotations]({rel['annotations']})",
        "",
        "Generated samples (image | interpreter labels over it | interpreter labels | oracle labels | "
        f"uncertainty):\n\n![dataset]({rel['dataset']})",
        "",
        "Most certain (top) and most uncertain (bottom) generated samples (image | labels | "
        f"uncertainty):\n\n![uncertainty]({rel['uncertain']})",
        "",
        "Real images (input | reconstruction | interpreter labels on it | exact mask):\n\n"
        f"![reconstructions]({rel['recon']})",
        "",
    ]
    path = cfg.out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

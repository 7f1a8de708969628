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
def _f(x: Any, digits: int = 3) -> str:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return str(x)
    return "n/a" if math.isnan(v) else f"{v:.{digits}f}"


def _goal(value: float, goal: float) -> str:
    if math.isnan(value):
        return "n/a"
    return "met" if value >= goal else f"missed by {goal - value:.3f}"


def figures_table(cfg: DemoConfig, r: dict[str, dict[str, Any]]) -> list[str]:
    iq, seg, emb = r["interpreter_quality"], r["segnet"], r["embedding_quality"]
    n_gen = iq["all"]["n_images"]
    drop = f"{cfg.drop_uncertain:.0%}"
    rows = [
        ("interpreter vs oracle, " + f"{n_gen} held-out generated samples", iq["all"]["miou"], 0.80),
        (f"segnet trained on {seg['generated']['n_train']} generated, tested on "
         f"{seg['generated']['test']['n_images']} real", seg["generated"]["test"]["miou"], 0.70),
        (f"segnet trained on the {seg['annotated']['n_train']} annotated images alone",
         seg["annotated"]["test"]["miou"], None),
        (f"segnet trained on generated without the {drop} most uncertain "
         f"({seg['generated_drop']['n_train']} samples)", seg["generated_drop"]["test"]["miou"], None),
        (f"interpreter vs oracle on the kept {1 - cfg.drop_uncertain:.0%}", iq["kept"]["miou"], None),
        (f"interpreter vs oracle on the dropped {drop}", iq["dropped"]["miou"], None),
        (f"real images: encoder -> generator -> interpreter vs exact masks "
         f"({emb['labels']['n_images']} images)", emb["labels"]["miou"], None),
    ]  # fmt: skip
    out = ["| figure | mIoU | goal |", "|---|---|---|"]
    for name, value, goal in rows:
        target = f">= {goal:.2f}: {_goal(float(value), goal)}" if goal is not None else ""
        out.append(f"| {name} | **{_f(value)}** | {target} |")
    return out


def per_class_table(r: dict[str, dict[str, Any]]) -> list[str]:
    names = toyfaces.CLASS_NAMES
    seg = r["segnet"]
    entries = [
        ("interpreter vs oracle (generated)", r["interpreter_quality"]["all"]),
        ("segnet: generated", seg["generated"]["test"]),
        ("segnet: generated, uncertain dropped", seg["generated_drop"]["test"]),
        ("segnet: annotated only", seg["annotated"]["test"]),
        ("real images via encoder", r["embedding_quality"]["labels"]),
    ]
    out = ["| | mIoU | " + " | ".join(names) + " | pixel acc. |", "|---" * (len(names) + 3) + "|"]
    for name, s in entries:
        cells = " | ".join(_f(v, 2) for v in s["per_class"])
        out.append(f"| {name} | {_f(s['miou'])} | {cells} | {_f(s['accuracy'])} |")
    return out


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
        "starting Prefect's temporary server (once per process). Each step ran torch with one thread.",
    ]
    return out


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


def write_report(cfg: DemoConfig, log: StepLog) -> Path:
    """Write the PNGs and ``report.md`` into ``cfg.out``; returns the report's path."""
    fig = cfg.out / "figures"
    samples = figure_samples(cfg, fig)
    annotations = figure_annotations(cfg, fig)
    dataset, uncertain = figure_dataset(cfg, fig)
    recon = figure_reconstructions(cfg, fig)
    r = log.results
    rel = {
        p: p.relative_to(cfg.out).as_posix()
        for p in (samples, annotations, dataset, uncertain, recon)
    }
    it = r["interpreter"]
    lines = [
        "# datasetgan demo report",
        "",
        f"Output folder `{cfg.out}`. Every number below was measured by this run "
        "(`steps/*.json` hold the raw values).",
        "",
        *_models_lines(cfg),
        f"- {cfg.n_candidates} candidates sampled, {cfg.n_annotate} annotated by the oracle, "
        f"interpreter ({cfg.interpreter_members} members) trained {it['steps']} steps "
        f"(validation mIoU {_f(it['val_miou'])} on held-out annotated images), "
        f"{r['generate']['n']} labelled pairs generated into `{r['generate']['store']}`, "
        f"{r['embed']['n']} real images embedded into `{r['embed']['store']}`",
        "",
        "## Figures",
        "",
        *figures_table(cfg, r),
        "",
        "Per class (IoU):",
        "",
        *per_class_table(r),
        "",
        *embedding_lines(r),
        "",
        "## Timings",
        "",
        *timings_table(log),
        "",
        "## Pictures",
        "",
        f"Candidates drawn for annotation:\n\n![samples]({rel[samples]})",
        "",
        f"The {cfg.n_annotate} annotated candidates (pairs: image | oracle mask):\n\n"
        f"![annotations]({rel[annotations]})",
        "",
        "Generated samples (image | interpreter labels over it | interpreter labels | oracle labels | "
        "uncertainty):\n\n"
        f"![dataset]({rel[dataset]})",
        "",
        "Most certain (top) and most uncertain (bottom) generated samples (image | labels | "
        f"uncertainty):\n\n![uncertainty]({rel[uncertain]})",
        "",
        "Real images (input | reconstruction | interpreter labels on it | exact mask):\n\n"
        f"![reconstructions]({rel[recon]})",
        "",
    ]
    path = cfg.out / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path

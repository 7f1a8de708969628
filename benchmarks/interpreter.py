"""Interpreter figures: memory and time to label one sample (ours, fused and buffer, vs DatasetGAN's
and EditGAN's methods), (render + label) / render, and training on 16 annotated samples.

Run: .venv/bin/python benchmarks/interpreter.py [--resolutions 256 512] [--members 10] [--classes 8]
                                                 [--repeats 3] [--skip-training]

Full-size StyleGAN2 architecture (rosinality config: 512-d W, channel multiplier 2) with random
weights (seed 0), one W+ code, const noise; an ensemble of --members pixel classifiers with random
weights and BatchNorm statistics (seeded, identical in every variant).

Variants: "ours (fused)" (``FusedLabeller``: no feature buffer), "ours (buffer)" (``FeatureBuffer`` +
``label_buffer`` in row tiles), "DatasetGAN (prealloc)" (its ``latent_to_image`` + ``generate_data``:
one preallocated [1, C, H, W] buffer filled tap by tap, then every member on every pixel at once) and
"EditGAN (list + cat)" (``reference_label``: upsampled taps in a list, ``torch.cat``, every member on
every pixel). Every labelling variant runs in a FRESH subprocess that loads the tapped features from disk (no
generator in that process), builds its labeller, then labels the sample once. "Peak extra" is the
highest resident set size seen while labelling (psutil sampled every millisecond, and ru_maxrss)
minus the resident set just before, i.e. what labelling one sample costs on top of having its taps
and the ensemble's weights; each side's setup (folding, regrouped weights, member modules, buffers)
is inside that window and inside its time.
Label times are one call each; render and fused-label times for the ratio are medians of --repeats
calls in one process. Training runs in its own fresh subprocess; its figure is that process's peak
RSS (ru_maxrss: generator, re-rendering, pools, training, validation) and its wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

# This file is itself named interpreter.py: run as a script, its folder must not shadow the package.
import numpy as np
import psutil
import torch
from safetensors.torch import load_file, save_file

from datasetgan.interpreter import (
    EnsembleConfig,
    FeatureBuffer,
    FeatureConfig,
    FusedLabeller,
    PixelEnsemble,
    TapGrid,
    TrainConfig,
    label_buffer,
    reference_label,
    train_interpreter,
)
from datasetgan.models.stylegan2 import Generator, GeneratorConfig, w_plus_from_seeds

MB = 1 << 20
TRAIN_TAP = 1  # the synthetic training labels are quantile bins of this tap's first channel


class PeakRSS:
    """Highest RSS of this process while the block runs (1 ms sampling plus ru_maxrss)."""

    def __enter__(self) -> PeakRSS:
        self.proc = psutil.Process()
        self.before = self.proc.memory_info().rss
        self.maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        if maxrss > self.maxrss_before:
            self.peak = max(self.peak, maxrss)

    @property
    def extra_mb(self) -> float:
        return (self.peak - self.before) / MB


def make_ensemble(channels: int, classes: int, members: int) -> PixelEnsemble:
    """Random weights scaled like a trained ensemble's (confident: logits of a few units) and random
    BatchNorm statistics; seeded, so every process builds the same one."""
    ens = PixelEnsemble(
        channels,
        classes,
        config=EnsembleConfig(n_members=members),
        rng=torch.Generator().manual_seed(0),
    )
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for w, gain in ((ens.w1, 1.0), (ens.w2, 2.0), (ens.w3, 8.0)):
            w.copy_(torch.randn(w.shape, generator=g) * gain / w.shape[2] ** 0.5)
        for name, b in ens.named_buffers():
            b.copy_(torch.rand(b.shape, generator=g) * (2.0 if name.endswith("var") else 0.5) + 0.2)
    return ens.eval()


def generator(resolution: int) -> Generator:
    return Generator(GeneratorConfig(resolution=resolution), seed=0).eval()


# -- roles (each runs in its own process) ---------------------------------------------------------
def role_prepare(args: argparse.Namespace) -> dict[str, Any]:
    """Render one sample: save its taps; time render and fused labelling in this process, with the
    allocator setting `generate` uses (models.runtime.tune_cpu_allocator)."""
    from datasetgan.models.runtime import tune_cpu_allocator

    tune_cpu_allocator()
    g = generator(args.resolution)
    ws = w_plus_from_seeds(g, [args.seed])
    renders, out = [], None
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        out = g.synthesize(ws, noise_mode="const", taps="all")
        renders.append(time.perf_counter() - t0)
    assert out is not None
    save_file({f"tap{i}": f.contiguous() for i, f in enumerate(out.features)}, args.features)
    grid = TapGrid.build(g.tap_layout, g.resolution, FeatureConfig())
    lab = FusedLabeller(make_ensemble(grid.channels, args.classes, args.members).fold(), grid)
    labels = []
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        lab.label(out.features)
        labels.append(time.perf_counter() - t0)
    render_flop, label_flop = count_flops(g, ws, lab)
    return {
        "first_layer_gflop": first_layer_flops(g, lab.mh) / 1e9,
        "later_layers_gflop": later_layer_flops(lab) / 1e9,
        "gemm_peak_gflops": gemm_peak(lab.mh),
        "render_s": statistics.median(renders),
        "fused_label_s": statistics.median(labels),
        "render_gflop": render_flop / 1e9,
        "fused_label_gflop": label_flop / 1e9,
        "channels": g.feature_channels,
        "taps": [list(t) for t in g.tap_layout],
    }


def count_flops(g: Generator, ws: torch.Tensor, lab: FusedLabeller) -> tuple[int, int]:
    """FLOPs (torch.utils.flop_counter: convolutions and matrix products) of one render with its
    taps and of its fused labelling."""
    from torch.utils.flop_counter import FlopCounterMode

    g.requires_grad_(False)  # the counter's module hooks expect no parameters needing grad
    with torch.no_grad(), FlopCounterMode(display=False) as render_count:
        out = g.synthesize(ws, noise_mode="const", taps="all")
    with torch.no_grad(), FlopCounterMode(display=False) as label_count:
        lab.label(out.features)
    return render_count.get_total_flops(), label_count.get_total_flops()


def first_layer_flops(g: Generator, mh: int) -> int:
    """The least arithmetic of the members' first layers in exact arithmetic: every tap's pixels
    projected once, at their native resolution, onto all M*H1 units (resampling is linear, so it can
    come after; nothing smaller computes the same pre-activations)."""
    return sum(2 * t.resolution**2 * t.channels * mh for t in g.tap_layout)


def later_layer_flops(lab: FusedLabeller) -> int:
    """The arithmetic of every member's second and third layers at every output pixel."""
    f = lab.folded
    per_pixel = f.n_members * (f.hidden1 * f.w2t.shape[2] + f.w3t.shape[1] * f.n_classes)
    return 2 * lab.grid.height * lab.grid.width * int(per_pixel)


def gemm_peak(mh: int, repeats: int = 5) -> float:
    """This process's fp32 matrix-product rate in GFLOP/s, the best of a large square product and of
    the labeller's own shape (4,096 pixels x 512 channels onto M*H1 units); medians of ``repeats``."""
    best = 0.0
    for n, k, m in ((2048, 2048, 2048), (4096, 512, mh)):
        a, b, c = torch.randn(n, k), torch.randn(k, m), torch.empty(n, m)
        torch.mm(a, b, out=c)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            torch.mm(a, b, out=c)
            times.append(time.perf_counter() - t0)
        best = max(best, 2 * n * k * m / statistics.median(times) / 1e9)
    return best


def role_label(args: argparse.Namespace) -> dict[str, Any]:
    """Label the saved sample once with one variant; peak extra memory and time."""
    data = load_file(args.features)
    feats = [data[f"tap{i}"].clone() for i in range(len(data))]  # own memory, not the file's pages
    del data
    taps = [tuple(t) for t in json.loads(args.taps)]
    res = int(feats[-1].shape[-1])
    grid = TapGrid.build(taps, res, FeatureConfig())
    ens = make_ensemble(grid.channels, args.classes, args.members)
    with PeakRSS() as peak:  # setup (folding, regrouping, buffers) counted on every side
        t0 = time.perf_counter()
        if args.variant == "fused":
            result = FusedLabeller(ens.fold(), grid).label(feats, maps=("probs",))
        elif args.variant == "buffer":
            buf = FeatureBuffer(taps, resolution=res, batch_size=1).fill(feats)
            result = label_buffer(buf, ens.fold(), maps=("probs",))
        elif args.variant == "datasetgan":
            result = datasetgan_label(feats, ens, resolution=res)
        else:
            result = reference_label(feats, ens, resolution=res, maps=("probs",))
        seconds = time.perf_counter() - t0
    assert result.probs is not None
    save_file({"labels": result.labels, "probs": result.probs}, args.out)
    return {"seconds": seconds, "peak_extra_mb": peak.extra_mb}


def datasetgan_label(feats: list[torch.Tensor], ens: PixelEnsemble, *, resolution: int) -> Any:
    """DatasetGAN's method (``latent_to_image`` + ``generate_data``): one preallocated buffer
    [1, C, H, W] filled tap by tap with the upsampled maps, reshaped to [H*W, C], then every member
    (an ``nn.Sequential``) on every pixel at once, softmax, mean over members."""
    from datasetgan.interpreter.predict import ResultWriter

    c = sum(int(f.shape[1]) for f in feats)
    buffer = torch.empty(1, c, resolution, resolution)
    start = 0
    for f in feats:
        buffer[:, start : start + f.shape[1]] = torch.nn.functional.interpolate(
            f, size=(resolution, resolution), mode="bilinear", align_corners=False
        )
        start += f.shape[1]
    pixels = buffer.reshape(c, -1).t()
    members = [ens.member(m) for m in range(ens.n_members)]
    logp = torch.stack([torch.log_softmax(member(pixels), dim=-1) for member in members])
    writer = ResultWriter(1, resolution, resolution, ens.n_classes, ("probs",), buffer.device)
    writer.write(logp.transpose(1, 2), 0, 0, resolution, order="yx")
    return writer.result()


def role_train(args: argparse.Namespace) -> dict[str, Any]:
    """Train on 16 annotated samples (synthetic masks made by the parent) from scratch."""
    t0 = time.perf_counter()
    g = generator(args.resolution)
    latents = {int(k): v for k, v in load_file(args.latents).items()}
    cfg = TrainConfig(ensemble=EnsembleConfig(n_members=args.members), max_steps=args.train_steps)
    interp, report = train_interpreter(g, args.annotations, latents, cfg)
    del interp
    return {
        "wall_s": time.perf_counter() - t0,
        "train_s": report.seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": report.steps,
        "stopped_early": report.stopped_early,
        "pool_pixels": report.pool_pixels,
        "val_miou": report.val_miou,
        "val_pixel_accuracy": report.val_pixel_accuracy,
    }


NAMES = {
    "fused": "ours (fused)",
    "buffer": "ours (buffer)",
    "datasetgan": "DatasetGAN (prealloc)",
    "reference": "EditGAN (list + cat)",
}


# -- orchestration --------------------------------------------------------------------------------
THREADS = 0


def run_role(role: str, **kw: Any) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--role", role, "--threads", str(THREADS)]
    for k, v in kw.items():
        cmd += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
    if proc.returncode != 0:
        raise RuntimeError(f"{role} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def labelling_table(res: int, args: argparse.Namespace, tmp: Path) -> None:
    feats = tmp / f"features_{res}.safetensors"
    common = {"resolution": res, "members": args.members, "classes": args.classes}
    prep = run_role("prepare", features=feats, repeats=args.repeats, seed=args.seed, **common)
    rows = {}
    for variant in ("fused", "buffer", "datasetgan", "reference"):
        out = tmp / f"{variant}_{res}.safetensors"
        rows[variant] = run_role(
            "label",
            variant=variant,
            features=feats,
            out=out,
            taps=json.dumps(prep["taps"]),
            **common,
        )
        rows[variant]["result"] = load_file(out)
    ref, fused = rows["reference"], rows["fused"]
    print(
        f"\n== labelling one {res}x{res} sample: C = {prep['channels']}, {args.members} members, K = {args.classes}"
    )
    print(
        f"{'variant':<22}{'peak extra MB':>15}{'label s':>10}{'labels != ref':>15}{'max|dp| vs ref':>16}"
    )
    for name, row in rows.items():
        differ = int((row["result"]["labels"] != ref["result"]["labels"]).sum())
        dp = (row["result"]["probs"] - ref["result"]["probs"]).abs().max().item()
        print(
            f"{NAMES[name]:<22}{row['peak_extra_mb']:>15.0f}{row['seconds']:>10.2f}{differ:>15d}{dp:>16.1e}"
        )
    for peer in ("datasetgan", "reference"):
        other = rows[peer]
        print(f"fused vs {NAMES[peer]}: memory 1/{other['peak_extra_mb'] / fused['peak_extra_mb']:.1f}, "
              f"{other['seconds'] / fused['seconds']:.1f}x faster (setup counted on both sides)")  # fmt: skip
    r, f = prep["render_s"], prep["fused_label_s"]
    print(f"render {r:.2f} s, fused label {f:.2f} s (medians of {args.repeats}): (render + label) / render = "
          f"{(r + f) / r:.2f}; with the reference labeller {(r + ref['seconds']) / r:.2f}")  # fmt: skip
    rf, lf = prep["render_gflop"], prep["fused_label_gflop"]
    print(f"arithmetic (torch.utils.flop_counter): render {rf:.1f} GFLOP at {rf / r:.0f} GFLOP/s, fused "
          f"label {lf:.1f} GFLOP at {lf / f:.0f} GFLOP/s; at equal rates (render + label) / render = "
          f"{(rf + lf) / rf:.2f}, and 1.5 needs the labeller at {lf / rf / 0.5:.1f}x the render's rate")  # fmt: skip
    first, later, peak = (
        prep[k] for k in ("first_layer_gflop", "later_layers_gflop", "gemm_peak_gflops")
    )
    least = first + later
    print(f"floor: the members' layers need at least {least:.1f} GFLOP ({first:.1f} in the first layers "
          f"with every tap projected once at its native resolution, {later:.1f} in the others); at this "
          f"process's fp32 matrix-product peak, {peak:.0f} GFLOP/s, that is {least / peak:.3f} s, so in "
          f"exact fp32 (render + label) / render >= {1 + least / peak / r:.2f} with this render, before "
          f"any resampling or memory traffic")  # fmt: skip


def training_figure(args: argparse.Namespace, tmp: Path) -> None:
    from PIL import Image

    res, n, classes = 256, 16, args.train_classes
    g = generator(res)
    seeds = list(range(1000, 1000 + n))
    ws = w_plus_from_seeds(g, seeds)
    with torch.no_grad():
        tap = torch.cat(
            [g.synthesize(ws[i : i + 1], taps="all").features[TRAIN_TAP][:, :1] for i in range(n)]
        )
    values = torch.nn.functional.interpolate(
        tap, size=(res, res), mode="bilinear", align_corners=False
    )[:, 0]
    edges = torch.quantile(values.flatten()[::97], torch.linspace(0, 1, classes + 1)[1:-1])
    masks = torch.bucketize(values.contiguous(), edges)
    ann = tmp / "annotations"
    ann.mkdir()
    for sid, m in zip(seeds, masks, strict=True):
        Image.fromarray(m.numpy().astype(np.uint8)).save(ann / f"{sid:08d}.png")
    (ann / "classes.txt").write_text("\n".join(f"class{k}" for k in range(classes)) + "\n")
    save_file({str(s): w for s, w in zip(seeds, ws, strict=True)}, str(tmp / "latents.safetensors"))
    del g
    row = run_role("train", resolution=res, members=args.members, annotations=ann,
                   latents=tmp / "latents.safetensors", train_steps=args.train_steps)  # fmt: skip
    print(f"\n== training on {n} annotated {res}x{res} samples ({classes} classes: quantile bins of channel 0 of tap {TRAIN_TAP}, 8 px), "
          f"{args.members} members, fresh process")  # fmt: skip
    print(f"peak RSS {row['peak_rss_mb']:.0f} MB, wall {row['wall_s']:.0f} s (train_interpreter {row['train_s']:.0f} s), "
          f"{row['steps']} steps (early stop: {row['stopped_early']}), pool {row['pool_pixels']} pixels, "
          f"val mIoU {row['val_miou']:.3f}, val pixel accuracy {row['val_pixel_accuracy']:.3f}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--resolutions", type=int, nargs="+", default=[256, 512])
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--classes", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--train-steps", type=int, default=3000)
    p.add_argument("--train-classes", type=int, default=4)
    p.add_argument("--skip-training", action="store_true")
    p.add_argument("--skip-labelling", action="store_true")
    for hidden in ("role", "variant", "features", "out", "taps", "annotations", "latents"):
        p.add_argument(f"--{hidden}", help=argparse.SUPPRESS)
    p.add_argument("--resolution", type=int, help=argparse.SUPPRESS)
    p.add_argument(
        "--threads", type=int, default=0, help="torch intra-op threads (0: torch's default)"
    )
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(args.role == "train")
    global THREADS
    THREADS = args.threads
    if args.role is not None:
        fn = {"prepare": role_prepare, "label": role_label, "train": role_train}[args.role]
        print(json.dumps(fn(args)))
        return
    print(f"torch {torch.__version__}, {args.threads or torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")  # fmt: skip
    with tempfile.TemporaryDirectory() as d:
        if not args.skip_labelling:
            for res in args.resolutions:
                labelling_table(res, args, Path(d))
        if not args.skip_training:
            training_figure(args, Path(d))


if __name__ == "__main__":
    main()

"""Generator throughput on this CPU: our synthesis path vs the grouped-convolution reference.

    python benchmarks/generator.py [--resolution 256] [--batch 8] [--repeats 3] [--rosinality DIR]

Full configuration (512-d W, 8 mapping layers, channel_multiplier 2), random weights, the same W+
codes for every variant. Each variant runs in a fresh process (the allocator setting is
process-wide) and reports images/s (median of --repeats timed batches after one warm-up), CPU
seconds per batch, peak RSS, and the max abs difference of its images from the reference's.

Variants:
  reference   grouped modulated convolution (rosinality's fused=True formulation), default malloc
  grouped+    the same with our allocator tuning (models.runtime.tune_cpu_allocator)
  ours        batched modulated convolution + allocator tuning: what `datasetgan` uses on CPU
  rosinality  rosinality's own Generator as people run it (default malloc), from --rosinality DIR
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

VARIANTS = {
    "reference": ("grouped", False),
    "grouped+": ("grouped", True),
    "ours": ("batched", True),
}


def _inputs(resolution: int, batch: int):  # type: ignore[no-untyped-def]
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig

    g = Generator(GeneratorConfig(resolution=resolution), seed=0).eval()
    g.estimate_w_avg(1000)
    rng = torch.Generator().manual_seed(0)
    ws = g.mapping(torch.randn(batch, g.w_dim, generator=rng), truncation=0.7)
    return g, ws[:, None].expand(-1, g.n_latent, -1).contiguous()


def _time(render, batch: int, repeats: int) -> tuple[float, float, torch.Tensor]:  # type: ignore[no-untyped-def]
    image = render()
    walls, cpus = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        image = render()
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return batch / statistics.median(walls), statistics.median(cpus), image


def run_variant(name: str, args: argparse.Namespace, out: Path) -> None:
    """Child process: time one variant, save its images and figures to ``out``."""
    torch.set_grad_enabled(False)
    if name == "rosinality":
        import torch.utils.cpp_extension as cpp

        cpp.load = lambda *a, **k: (
            None
        )  # their op/ compiles CUDA at import; the CPU path never uses it
        sys.path.insert(0, args.rosinality)
        import model  # type: ignore[import-not-found]

        g, ws = _inputs(args.resolution, args.batch)
        theirs = model.Generator(args.resolution, 512, 8, channel_multiplier=2).eval()
        theirs.load_state_dict(
            {k: v for k, v in g.state_dict().items() if k != "w_avg"}, strict=False
        )

        def render():  # type: ignore[no-untyped-def]
            return theirs([ws], input_is_latent=True, randomize_noise=False)[0]
    else:
        impl, tuned = VARIANTS[name]
        if tuned:
            from datasetgan.models.runtime import tune_cpu_allocator

            tune_cpu_allocator()
        g, ws = _inputs(args.resolution, args.batch)

        def render():  # type: ignore[no-untyped-def]
            return g.synthesize(ws, taps="none", modconv=impl).image

    rate, cpu, image = _time(render, args.batch, args.repeats)
    torch.save(image, out / f"{name}.pt")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    (out / f"{name}.json").write_text(json.dumps({"rate": rate, "cpu": cpu, "peak_mb": peak}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--rosinality", default=None, help="checkout of rosinality/stylegan2-pytorch"
    )
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        run_variant(args.child, args, Path(args.out))
        return
    names = [*VARIANTS, *(["rosinality"] if args.rosinality else [])]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            cmd = [sys.executable, __file__, "--child", name, "--out", tmp, *sys.argv[1:]]
            subprocess.run(cmd, check=True)
        rows = {n: json.loads((Path(tmp) / f"{n}.json").read_text()) for n in names}
        ref_image = torch.load(Path(tmp) / "reference.pt", weights_only=True)
        diffs = {
            n: (torch.load(Path(tmp) / f"{n}.pt", weights_only=True) - ref_image).abs().max().item()
            for n in names
        }
    print(
        f"generator {args.resolution}px full config, batch {args.batch}, {torch.get_num_threads()} threads, "
        f"median of {args.repeats}"
    )
    print(
        f"{'variant':<11} {'images/s':>9} {'CPU s/batch':>12} {'peak RSS MB':>12} {'vs reference':>13} {'max|diff|':>10}"
    )
    base = rows["reference"]["rate"]
    for n in names:
        r = rows[n]
        print(
            f"{n:<11} {r['rate']:>9.3f} {r['cpu']:>12.1f} {r['peak_mb']:>12.0f} {r['rate'] / base:>12.2f}x {diffs[n]:>10.1e}"
        )


if __name__ == "__main__":
    main()

"""Generator throughput on this CPU: batched modulated convolution vs the grouped-conv reference.

    python benchmarks/generator.py [--resolution 256] [--batch 8] [--repeats 3]

Full configuration (512-d W, 8 mapping layers, channel_multiplier 2), random weights, the same W+
codes for both paths. Prints images/s for each (median of --repeats timed batches after one warm-up),
their ratio, the max abs difference of the images, and peak RSS.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time

import torch

from models.stylegan2 import Generator, GeneratorConfig


def _rate(g: Generator, ws: torch.Tensor, impl: str, repeats: int) -> tuple[float, torch.Tensor]:
    image = g.synthesize(ws, taps="none", modconv=impl).image  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        image = g.synthesize(ws, taps="none", modconv=impl).image
        times.append(time.perf_counter() - t0)
    return ws.shape[0] / statistics.median(times), image


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resolution", type=int, default=256)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    g = Generator(GeneratorConfig(resolution=args.resolution)).eval()
    ws = g.mapping(torch.randn(args.batch, g.w_dim, generator=torch.Generator().manual_seed(0)))
    ws = ws[:, None].expand(-1, g.n_latent, -1).contiguous()
    rate_grouped, img_grouped = _rate(g, ws, "grouped", args.repeats)
    rate_batched, img_batched = _rate(g, ws, "batched", args.repeats)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    diff = (img_grouped - img_batched).abs().max().item()
    print(f"generator {args.resolution}px, batch {args.batch}, {torch.get_num_threads()} threads, "
          f"{sum(p.numel() for p in g.parameters()) / 1e6:.1f} M params")
    print(f"  grouped (reference): {rate_grouped:7.3f} images/s")
    print(f"  batched (ours)     : {rate_batched:7.3f} images/s")
    print(f"  speed-up           : {rate_batched / rate_grouped:7.2f}x   max|diff| {diff:.2e}   peak RSS {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()

"""Numerical parity with rosinality/stylegan2-pytorch, run beside a checkout of that repository.

    python benchmarks/parity_rosinality.py --rosinality /path/to/stylegan2-pytorch

Builds rosinality's own ``Generator`` (its CPU code paths; its CUDA extension build is skipped),
perturbs every parameter (so noise strengths and biases are non-zero), loads the same weights into
ours through ``generator_from_rosinality_state_dict`` and prints the max abs difference of the
images for W+ input with constant noise, and for z input with truncation towards ``latent_avg``.
Nothing of that repository is copied here: it is imported from the path you give.
"""

from __future__ import annotations

import argparse
import sys

import torch
import torch.utils.cpp_extension

from datasetgan.models.stylegan2 import generator_from_rosinality_state_dict


def _import_rosinality(path: str):  # type: ignore[no-untyped-def]
    # Their op/ package compiles CUDA at import; on CPU it never uses the result, so skip the build.
    torch.utils.cpp_extension.load = lambda *a, **k: None  # type: ignore[assignment]
    sys.path.insert(0, path)
    import model  # type: ignore[import-not-found]

    return model


def compare(model, size: int, channel_multiplier: int, n: int, psi: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    torch.manual_seed(size)
    theirs = model.Generator(size, 512, 8, channel_multiplier=channel_multiplier).eval()
    with torch.no_grad():
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        latent_avg = theirs.mean_latent(4096)[0]
    ours = generator_from_rosinality_state_dict(theirs.state_dict(), latent_avg=latent_avg).eval()
    rng = torch.Generator().manual_seed(1)
    z = torch.randn(n, 512, generator=rng)
    ws = torch.randn(n, ours.n_latent, 512, generator=rng) * 0.5 + latent_avg
    with torch.no_grad():
        ref, _ = theirs([ws], input_is_latent=True, randomize_noise=False)
        got = ours.synthesize(ws, noise_mode="const", taps="none").image
        diff_wplus = (ref - got).abs().max().item()
        ref_t, _ = theirs(
            [z], truncation=psi, truncation_latent=latent_avg[None], randomize_noise=False
        )
        got_t = ours.synthesize(
            ours.mapping(z, truncation=psi), noise_mode="const", taps="none"
        ).image
        diff_trunc = (ref_t - got_t).abs().max().item()
    return diff_wplus, diff_trunc


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--rosinality", required=True, help="checkout of rosinality/stylegan2-pytorch"
    )
    parser.add_argument("--sizes", default="64,256")
    parser.add_argument("--psi", type=float, default=0.7)
    parser.add_argument("--n", type=int, default=2)
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    model = _import_rosinality(args.rosinality)
    print(
        f"{'size':>6} {'ch_mult':>7} {'max|diff| W+ const':>20} {'max|diff| z, psi=' + str(args.psi):>22}"
    )
    worst = 0.0
    for size in (int(s) for s in args.sizes.split(",")):
        for cm in (2, 1):
            d1, d2 = compare(model, size, cm, args.n, args.psi)
            worst = max(worst, d1, d2)
            print(f"{size:>6} {cm:>7} {d1:>20.3e} {d2:>22.3e}")
    print(f"worst {worst:.3e} ({'PASS' if worst <= 1e-4 else 'FAIL'} at 1e-4)")


if __name__ == "__main__":
    main()

"""Peak extra memory of one EditGAN edit step (forward + backward to W+) at 512 px with a full-size
StyleGAN2 (rosinality's 512 px configuration, random weights) and a 10-member interpreter:

- ``editgan``: EditGAN's own method: every tap ``F.interpolate``-d to 512 px, ``torch.cat`` into
  [1, C, 512, 512] with gradients, each member (DatasetGAN's ``nn.Sequential``) on every pixel;
- ``ours``: ``Interpreter.soft_labels`` (tiles of rows, recomputed in the backward pass).

Both compute the same loss (cross-entropy to a target inside a region + L1 outside) and the same
gradient on W+ (checked: max |difference| printed). Each runs in a fresh process, alternating,
``--repeats`` times; peak extra memory = peak RSS during the step (VmHWM, reset just before it
through /proc/self/clear_refs) minus RSS just before it.

Both methods run under the same allocator setting: ``--allocator fixed`` (default) is what
``datasetgan edit`` sets (glibc's mmap threshold fixed, editing/allocator.py), ``glibc`` its dynamic
default, under which freed tile buffers stay in the heap and count in the peak RSS.

Run: .venv/bin/python benchmarks/editing_memory.py [--resolution 512] [--repeats 2] [--members 10]
         [--allocator fixed|glibc]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any


def _proc_mb(field: str, path: str = "/proc/self/status") -> float:
    """A "Field: N kB" line of a /proc file, in MB (NaN if absent)."""
    with open(path) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Linux: make VmHWM (peak RSS) start again from the current RSS (clear_refs, value 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def _models(resolution: int, members: int) -> tuple[Any, Any]:
    import torch

    from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
    from datasetgan.models.fingerprint import state_dict_sha256
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig

    g = Generator(GeneratorConfig(resolution=resolution), seed=0).eval()
    ens = PixelEnsemble(g.feature_channels, 12, config=EnsembleConfig(n_members=members)).eval()
    with torch.no_grad():
        for p in ens.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(1)) * 0.02)
    interp = Interpreter(ens, class_names=[str(k) for k in range(12)], taps=g.tap_layout,
                         resolution=resolution, generator_fingerprint=state_dict_sha256(g))  # fmt: skip
    return g, interp


def _editgan_probs(features: list[Any], interp: Any) -> Any:
    """EditGAN's labelling: upsample every tap, cat, every member on every pixel, mean softmax."""
    import torch
    import torch.nn.functional as F

    size = interp.resolution
    ups = [
        F.interpolate(f, size=(size, size), mode="bilinear", align_corners=False) for f in features
    ]
    buffer = torch.cat(ups, 1)  # [1, C, H, W] with gradients
    pixels = buffer.permute(0, 2, 3, 1).reshape(-1, buffer.shape[1])
    probs = [
        torch.softmax(interp.ensemble.member(m).eval()(pixels), -1) for m in range(interp.n_members)
    ]
    return torch.stack(probs).mean(0).reshape(1, size, size, -1).permute(0, 3, 1, 2)


def worker(method: str, resolution: int, members: int, allocator: str) -> dict[str, Any]:
    import torch

    from datasetgan.editing.allocator import fix_mmap_threshold

    if allocator == "fixed":
        assert fix_mmap_threshold(), "glibc's mallopt is needed for --allocator fixed"
    torch.set_num_threads(2)
    g, interp = _models(resolution, members)
    g.requires_grad_(False)
    ws = g.mapping(torch.randn(1, g.w_dim, generator=torch.Generator().manual_seed(3)))[
        :, None
    ].repeat(1, g.n_latent, 1)
    target = torch.zeros(resolution, resolution, dtype=torch.long)
    region = torch.zeros(resolution, resolution, dtype=torch.bool)
    region[resolution // 4 : resolution // 2, resolution // 4 : resolution // 2] = True
    with torch.no_grad():
        source = g.synthesize(ws, taps="none").image
        if method == "ours":
            interp.soft_labels([f for f in g.synthesize(ws, taps="all").features])  # fold once
    _reset_peak()
    before, start = _proc_mb("VmRSS"), time.perf_counter()
    delta = torch.zeros_like(ws, requires_grad=True)
    out = g.synthesize(ws + delta, taps="all")
    probs = (
        _editgan_probs(list(out.features), interp)
        if method == "editgan"
        else interp.soft_labels(out.features)
    )
    logp = probs.clamp_min(1e-8).log()[0]
    ce = -logp.gather(0, target[None])[0][region].mean()
    l1 = ((out.image - source).abs() * (~region).float()).mean()
    (ce + l1).backward()
    return {"method": method, "peak_extra_mb": _proc_mb("VmHWM") - before, "seconds": time.perf_counter() - start,
            "grad": delta.grad.flatten()[:4096].tolist()}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--resolution", type=int, default=512)
    p.add_argument("--members", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--worker", choices=("ours", "editgan"))
    p.add_argument(
        "--allocator", choices=("fixed", "glibc"), default="fixed",
        help="fixed: both methods run with the mmap threshold `datasetgan edit` sets "
        "(editing/allocator.py); glibc: its dynamic default",
    )  # fmt: skip
    args = p.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.resolution, args.members, args.allocator)))
        return 0
    rows: dict[str, list[dict[str, Any]]] = {"ours": [], "editgan": []}
    killed: dict[str, int] = {"ours": 0, "editgan": 0}
    available = _proc_mb("MemAvailable", "/proc/meminfo")
    for _ in range(args.repeats):
        for method in ("editgan", "ours"):
            cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", method,
                   "--resolution", str(args.resolution), "--members", str(args.members),
                   "--allocator", args.allocator]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True)
            if done.returncode == -9:  # the kernel's OOM killer: the method does not fit here
                killed[method] += 1
                print(f"{method}: killed by the kernel (out of memory; {available:.0f} MB were "
                      "available at the start)", flush=True)  # fmt: skip
                continue
            if done.returncode != 0:
                print(f"{method} failed:\n{done.stderr[-2000:]}")
                return 1
            rows[method].append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(
                method,
                f"{rows[method][-1]['peak_extra_mb']:.0f} MB, {rows[method][-1]['seconds']:.1f} s",
                flush=True,
            )
    import numpy as np

    print(
        f"\none edit step at {args.resolution} px, {args.members} members ({args.repeats} runs each):"
    )
    print("| method | peak extra memory | seconds |\n|---|---:|---:|")
    for m in ("editgan", "ours"):
        if rows[m]:
            mb = float(np.median([r["peak_extra_mb"] for r in rows[m]]))
            sec = float(np.median([r["seconds"] for r in rows[m]]))
            print(f"| {m} | {mb:.0f} MB | {sec:.1f} |")
        if killed[m]:
            print(
                f"| {m} | out of memory in {killed[m]} of {args.repeats} runs (> {available:.0f} MB) | |"
            )
    if rows["ours"] and rows["editgan"]:
        ours = float(np.median([r["peak_extra_mb"] for r in rows["ours"]]))
        theirs = float(np.median([r["peak_extra_mb"] for r in rows["editgan"]]))
        grads = np.array(rows["ours"][0]["grad"]), np.array(rows["editgan"][0]["grad"])
        print(f"\nours / editgan memory: 1/{theirs / ours:.1f}; gradient on W+ max |diff| "
              f"{np.max(np.abs(grads[0] - grads[1])):.2e} (max |grad| {np.max(np.abs(grads[1])):.2e})")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Storage figures per codec: write MB/s, size on disk, the writer's share of a generation run,
random-read samples/s through SegmentationDataset; np.save / np.load as the baseline.

Run: .venv/bin/python benchmarks/storage.py [--n 512] [--res 256] [--reads 2000] [--repeats 3]
         [--codecs gzip:4 gzip:4+images zstd:3 none] [--gen-samples 8]

The writer's share is write seconds / (render + label seconds + write seconds) per sample, with
render + label measured here on the full StyleGAN2 configuration at --res (random weights) and a
10-member interpreter, one thread, as a shard task runs them.

Data: synthetic 256x256 samples shaped like generated ones (smooth RGB images with mild noise, blob
label maps with 8 classes, W+ [14, 512] float32, seed, score). "MB" = 1e6 bytes of raw (uncompressed)
array data. Every figure is the median of --repeats runs. Reads are random (a fresh permutation per
run) and hit the page cache (the store fits in memory), as in a training run's later epochs.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from datasetgan.storage import Compression, SegmentationDataset, ShardedStore, samples_spec

N_LATENT, W_DIM, N_CLASSES = 14, 512, 8


def synthetic(n: int, res: int, seed: int = 0) -> dict[str, np.ndarray]:
    """n samples: image [n,res,res,3] uint8, label [n,res,res] uint8, w_plus [n,14,512], seed, score."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:res, 0:res].astype(np.float32) / res
    images = np.empty((n, res, res, 3), np.uint8)
    labels = np.empty((n, res, res), np.uint8)
    for i in range(n):
        f = rng.uniform(1, 6, size=(3, 2))
        ph = rng.uniform(0, 6.3, size=3)
        base = np.stack(
            [np.sin(f[c, 0] * 6.3 * xx + f[c, 1] * 6.3 * yy + ph[c]) for c in range(3)], -1
        )
        noise = rng.normal(0, 6, size=(res, res, 3))
        images[i] = np.clip(127 + 100 * base + noise, 0, 255).astype(np.uint8)
        centres = rng.uniform(0, 1, size=(N_CLASSES, 2))
        d = (yy[..., None] - centres[:, 0]) ** 2 + (xx[..., None] - centres[:, 1]) ** 2
        labels[i] = d.argmin(-1).astype(np.uint8)
    return {
        "image": images,
        "label": labels,
        "w_plus": rng.standard_normal((n, N_LATENT, W_DIM)).astype(np.float32),
        "seed": np.arange(n, dtype=np.int64),
        "score": rng.random(n).astype(np.float32),
    }


def parse_codec(text: str) -> Compression:
    """ "gzip:4" (the codec's own image rule), "gzip:4+images" / "zstd:3-images" (forced)."""
    images = True if text.endswith("+images") else False if text.endswith("-images") else None
    codec, _, level = text.removesuffix("+images").removesuffix("-images").partition(":")
    return Compression(codec, int(level) if level else None, images)  # type: ignore[arg-type]


def generation_seconds_per_sample(res: int, n: int) -> float:
    """Render + label seconds per sample (full config at ``res``, 10 members, batch 8, 1 thread)."""
    from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
    from datasetgan.models.fingerprint import state_dict_sha256
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig, w_plus_from_seeds

    g = Generator(GeneratorConfig(resolution=res), seed=0).eval()
    ens = PixelEnsemble(g.feature_channels, N_CLASSES, config=EnsembleConfig(n_members=10)).eval()
    interp = Interpreter(ens, class_names=[f"c{k}" for k in range(N_CLASSES)], taps=g.tap_layout,
                         resolution=res, generator_fingerprint=state_dict_sha256(g))  # fmt: skip
    ws = w_plus_from_seeds(g, range(8))
    interp.render_and_label(g, ws)  # warm-up
    t0 = time.perf_counter()
    for _ in range(max(1, n // 8)):
        interp.render_and_label(g, ws)
    return (time.perf_counter() - t0) / (max(1, n // 8) * 8)


def write_store(
    root: Path, data: dict[str, np.ndarray], codec: str | Compression, shard: int
) -> float:
    """Seconds to write `data` as a fresh store (every shard: temp file, fsync, rename, entry refresh)."""
    if root.exists():
        shutil.rmtree(root)
    res = data["image"].shape[1]
    spec = samples_spec(
        height=res,
        width=res,
        n_latent=N_LATENT,
        w_dim=W_DIM,
        class_names=[f"c{k}" for k in range(N_CLASSES)],
        shard_size=shard,
        compression=codec if isinstance(codec, Compression) else Compression(codec),  # type: ignore[arg-type]
    )
    t0 = time.perf_counter()
    store = ShardedStore.create(root, spec)
    for slot in store.pending(len(data["seed"])):
        with store.writer(slot) as w:
            for i in range(
                slot.start, slot.stop, 16
            ):  # batches as a generation flow would hand them
                j = min(i + 16, slot.stop)
                w.append({k: v[i:j] for k, v in data.items()})
    return time.perf_counter() - t0


def write_npy(root: Path, data: dict[str, np.ndarray]) -> float:
    """Seconds to np.save each sample's image and label to its own file (DatasetGAN style)."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    for i in range(len(data["seed"])):
        np.save(root / f"{i:06d}_image.npy", data["image"][i])
        np.save(root / f"{i:06d}_label.npy", data["label"][i])
    return time.perf_counter() - t0


def to_tensors(image: np.ndarray, label: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """The same conversion SegmentationDataset does: image [3,H,W] float32 in [0,1], label [H,W] int64."""
    t = (
        torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
        .to(torch.float32)
        .div_(255.0)
    )
    return t, torch.from_numpy(label.astype(np.int64))


def reads_per_s(read: Callable[[int], object], n: int, n_reads: int, seed: int) -> float:
    order = np.random.default_rng(seed).integers(0, n, size=n_reads)
    t0 = time.perf_counter()
    for i in order:
        read(int(i))
    return n_reads / (time.perf_counter() - t0)


class ZerosDataset(torch.utils.data.Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """Returns zero tensors shaped like SegmentationDataset's items: the DataLoader's own ceiling."""

    def __init__(self, n: int, res: int) -> None:
        self.n, self.res = n, res

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        r = self.res
        return torch.zeros(3, r, r), torch.zeros(r, r, dtype=torch.int64)


def loader_per_s(root: Path | None, n_reads: int, seed: int, res: int = 256) -> float:
    """Samples/s through DataLoader(num_workers=2, fork) after the workers started (None: zeros)."""
    ds: ZerosDataset | SegmentationDataset = (
        ZerosDataset(n_reads, res) if root is None else SegmentationDataset(root)
    )
    g = torch.Generator().manual_seed(seed)
    sampler = torch.utils.data.RandomSampler(
        ds,
        replacement=True,
        num_samples=n_reads,
        generator=g,
    )
    loader = torch.utils.data.DataLoader(
        ds, batch_size=32, sampler=sampler, num_workers=2, multiprocessing_context="fork"
    )
    it = iter(loader)
    next(it)
    t0 = time.perf_counter()
    n = sum(len(batch[0]) for batch in it)
    return n / (time.perf_counter() - t0)


def median(fn: Callable[[int], float], repeats: int) -> float:
    return statistics.median(fn(r) for r in range(repeats))


def _dir(c: Compression) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in _name(c))


def _name(c: Compression) -> str:
    return c.describe()


def write_figures(scratch: Path, data: dict[str, np.ndarray], shard: int, repeats: int,
                  codecs: list[Compression], gen_s: float) -> None:  # fmt: skip
    raw_mb = sum(v.nbytes for v in data.values()) / 1e6
    n = len(data["seed"])
    print(f"render + label: {gen_s:.3f} s per sample\n")
    print("| codec | write MB/s | on disk MB | ratio | writer's share of generation |")
    print("|---|---:|---:|---:|---:|")
    for c in codecs:
        root = scratch / _dir(c)

        def run(_r: int, root: Path = root, c: Compression = c) -> float:
            return write_store(root, data, c, shard)

        seconds = median(run, repeats)
        disk = sum(p.stat().st_size for p in root.rglob("*.h5")) / 1e6
        share = (seconds / n) / (gen_s + seconds / n)
        print(
            f"| {_name(c)} | {raw_mb / seconds:.0f} | {disk:.1f} | {raw_mb / disk:.1f} | {share:.1%} |"
        )
    npy_mb = (data["image"].nbytes + data["label"].nbytes) / 1e6
    mbs = median(lambda _r: npy_mb / write_npy(scratch / "npy", data), repeats)
    print(f"| np.save (image + label only) | {mbs:.0f} | {npy_mb:.1f} | 1.0 | |")


def read_figures(scratch: Path, n: int, res: int, n_reads: int, repeats: int,
                 codecs: list[Compression]) -> None:  # fmt: skip
    print(f"\nrandom reads, {n_reads} per run, one process, (image, label) tensors:\n")
    print("| reader | samples/s |\n|---|---:|")
    for c in codecs:
        ds = SegmentationDataset(scratch / _dir(c))

        def run(r: int, ds: SegmentationDataset = ds) -> float:
            return reads_per_s(ds.__getitem__, n, n_reads, r)

        print(f"| SegmentationDataset, {_name(c)} | {median(run, repeats):.0f} |")
        ds.close()
    npy = scratch / "npy"

    def load(i: int) -> object:
        return to_tensors(np.load(npy / f"{i:06d}_image.npy"), np.load(npy / f"{i:06d}_label.npy"))

    print(
        f"| np.load per-sample .npy (baseline) | {median(lambda r: reads_per_s(load, n, n_reads, r), repeats):.0f} |"
    )
    first = scratch / _dir(codecs[0])
    sps = median(lambda r: loader_per_s(first, n_reads, r), repeats)
    print(f"| DataLoader(2 workers, fork), {_name(codecs[0])}, batch 32 | {sps:.0f} |")
    sps = median(lambda r: loader_per_s(None, n_reads, r, res), repeats)
    print(f"| DataLoader over zero tensors (the loader's ceiling) | {sps:.0f} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512)
    ap.add_argument("--res", type=int, default=256)
    ap.add_argument("--shard", type=int, default=128)
    ap.add_argument("--reads", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument(
        "--codecs",
        nargs="+",
        default=["gzip:4", "gzip:1+images", "gzip:4+images", "zstd:3", "zstd:3-images", "none"],
    )
    ap.add_argument("--gen-samples", type=int, default=8, help="samples to time render + label on")
    ap.add_argument(
        "--dir", type=Path, default=None, help="scratch directory (default: a temp dir)"
    )
    args = ap.parse_args()
    codecs = [parse_codec(c) for c in args.codecs]
    torch.set_num_threads(1)
    data = synthetic(args.n, args.res)
    raw_mb = sum(v.nbytes for v in data.values()) / 1e6
    print(
        f"data: {args.n} samples at {args.res}x{args.res}, {raw_mb:.1f} MB raw, shard size {args.shard}"
    )
    gen_s = generation_seconds_per_sample(args.res, args.gen_samples)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        write_figures(Path(tmp), data, args.shard, args.repeats, codecs, gen_s)
        read_figures(Path(tmp), args.n, args.res, args.reads, args.repeats, codecs)


if __name__ == "__main__":
    main()

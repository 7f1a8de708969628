"""Scale-out and orchestration figures of the generation flows, measured in one run.

1. Scale-out: the same generate_dataset run on a Dask LocalCluster of 1 and of 2 worker processes
   (one thread each) against a real `prefect server start`; speed-up = span of the shard phase with
   1 worker / with 2 (first shard start to last shard end; cluster start-up is not generation).
   Target >= 1.7x on 2 cores. Also the writer's share of shard task time (goal <= 5%).
2. Prefect's per-run overhead: a small generation as a flow (local runner, one worker) minus the
   same work through the plain functions the tasks wrap (flows.plans / flows.work / flows.summary).

    .venv/bin/python benchmarks/scaleout.py                 # defaults below, ~5 minutes here
    .venv/bin/python benchmarks/scaleout.py --resolution 64 --n 32 --repeats 1   # quick look

Stores are compared too: the 1- and 2-worker stores must be identical.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from datasetgan.flows.server import LocalServer


def make_models(root: Path, resolution: int, channel_max: int, members: int) -> tuple[Path, Path]:
    """A random generator of the given size and a random 10-member interpreter (timing only)."""
    from datasetgan.interpreter import EnsembleConfig, Interpreter, PixelEnsemble
    from datasetgan.models.fingerprint import state_dict_sha256
    from datasetgan.models.stylegan2 import Generator, GeneratorConfig, save_generator

    cfg = GeneratorConfig(
        resolution=resolution, w_dim=256, n_mlp=4, channel_base=16384, channel_max=channel_max
    )
    g = Generator(cfg, seed=0).eval()
    g.estimate_w_avg(1000)
    gen = save_generator(g, root / "generator")
    ens = PixelEnsemble(g.feature_channels, 8, config=EnsembleConfig(n_members=members))
    names = [f"class{k}" for k in range(8)]
    interp = Interpreter(
        ens,
        class_names=names,
        taps=g.tap_layout,
        resolution=resolution,
        generator_fingerprint=state_dict_sha256(g),
    )
    return gen, interp.save(root / "interpreter")


def params(
    gen: Path, interp: Path, out: Path, n: int, shard: int, batch: int, runner: dict[str, Any]
) -> Any:
    from datasetgan.pipeline.params import GenerateParams

    return GenerateParams.model_validate(
        {
            "generator": gen,
            "interpreter": interp,
            "out": out,
            "n": n,
            "shard_size": shard,
            "render": {"batch_size": batch},
            "runner": runner,
        }
    )


def scaleout(args: argparse.Namespace, gen: Path, interp: Path, root: Path) -> None:
    from datasetgan.flows.generation import generate_dataset

    spans: dict[int, list[float]] = {1: [], 2: []}
    cpu: dict[int, list[float]] = {1: [], 2: []}
    shares: list[float] = []
    for rep in range(args.repeats):
        for workers in (1, 2):
            runner = {"kind": "dask", "workers": workers}
            out = root / f"dask{workers}-{rep}"
            p = params(gen, interp, out, args.n, args.shard_size, args.batch_size, runner)
            r = generate_dataset(p)
            spans[workers].append(r["shard_phase_s"])
            cpu[workers].append(r["cpu_per_task_wall"])
            shares.append(r["writer_share"])
            print(
                f"  repeat {rep}: {workers} worker(s): shard phase {r['shard_phase_s']:.2f} s, "
                f"writer share {100 * r['writer_share']:.2f}%, "
                f"CPU s per task s {r['cpu_per_task_wall']:.2f}, load {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        same = _same(root / f"dask1-{rep}", root / f"dask2-{rep}")
        print(f"  repeat {rep}: stores identical: {same}", flush=True)
    one, two = statistics.median(spans[1]), statistics.median(spans[2])
    print(f"scale-out: 1 worker {one:.2f} s, 2 workers {two:.2f} s (medians)")
    print(f"  speed-up {one / two:.2f}x (target >= 1.7x)")
    c1, c2 = statistics.median(cpu[1]), statistics.median(cpu[2])
    print(
        f"  CPU s per task s (1.00 = a free core per worker): 1 worker {c1:.2f}, 2 workers {c2:.2f}"
    )
    med, top = 100 * statistics.median(shares), 100 * max(shares)
    print(f"writer share of shard task time: median {med:.2f}%, max {top:.2f}% (goal <= 5%)")


def _same(a: Path, b: Path) -> bool:
    import h5py
    import hdf5plugin  # noqa: F401
    import numpy as np

    with h5py.File(a / "data.h5", "r") as fa, h5py.File(b / "data.h5", "r") as fb:
        return all(
            np.array_equal(fa[k][...], fb[k][...], equal_nan=True)
            for k in ("image", "label", "w_plus", "seed", "score")
        )


def overhead(args: argparse.Namespace, root: Path) -> None:
    """Flow wall time minus the same library work without Prefect, small generation."""
    from datasetgan.flows.generation import generate_dataset
    from datasetgan.pipeline.generate import generate_shard
    from datasetgan.pipeline.plans import plan_dataset
    from datasetgan.pipeline.summary import summarize

    small = root / "small"
    gen, interp = make_models(small, 32, 64, 3)
    flow_s, plain_s = [], []
    for rep in range(args.repeats + 1):  # the first round warms caches and is not counted
        p = params(gen, interp, small / f"flow{rep}", 32, 8, 4, {"kind": "local", "workers": 1})
        t = time.perf_counter()
        generate_dataset(p)
        f = time.perf_counter() - t
        p = params(gen, interp, small / f"plain{rep}", 32, 8, 4, {"kind": "local", "workers": 1})
        t = time.perf_counter()
        plan = plan_dataset(p)
        stats = [generate_shard(plan.store, slot, plan.recipe) for slot in plan.slots]
        summarize(plan, stats, 0.0, 1)
        q = time.perf_counter() - t
        if rep:
            flow_s.append(f)
            plain_s.append(q)
        print(f"  round {rep}: flow {f:.2f} s, same work without Prefect {q:.2f} s", flush=True)
    f, q = statistics.median(flow_s), statistics.median(plain_s)
    print(
        f"Prefect per-run overhead (32 samples, 4 shards, 32 px): {f - q:.2f} s per run (flow {f:.2f} s - plain {q:.2f} s, medians)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--resolution", type=int, default=128)
    ap.add_argument("--channel-max", type=int, default=128)
    ap.add_argument("--members", type=int, default=10)
    ap.add_argument("--n", type=int, default=64)
    ap.add_argument("--shard-size", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="scaleout-"))
    print(
        f"machine: {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}; work in {root}", flush=True
    )
    gen, interp = make_models(root, args.resolution, args.channel_max, args.members)
    t = time.perf_counter()
    with LocalServer(root / "prefect-home") as server:
        print(
            f"prefect server start: healthy after {time.perf_counter() - t:.1f} s at {server.api_url}",
            flush=True,
        )
        os.environ.update(
            PREFECT_API_URL=server.api_url,
            PREFECT_HOME=str(server.home),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
        )
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
        os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
        print(
            f"generation: {args.n} samples at {args.resolution} px, {args.members} members, shards of {args.shard_size}, batches of {args.batch_size}",
            flush=True,
        )
        scaleout(args, gen, interp, root)
        overhead(args, root)
    print(
        f"load average at the end: {os.getloadavg()[0]:.1f} (2 cores shared with other jobs: A/B within this run)"
    )


if __name__ == "__main__":
    main()

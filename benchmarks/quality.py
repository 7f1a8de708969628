"""The demo's comparison with other segmentation nets: does the generated dataset still beat the
same number of real annotated images when the downstream net is not the demo's?

Run (after ``datasetgan demo``):
    .venv/bin/python benchmarks/quality.py [--demo runs/demo] [--nets dilated unet-wide]
        [--seeds 0 1 2] [--steps 2000] [--workers 2]

For each net and seed it trains (a) on the demo's real renders with exact masks (as many as the
demo's main annotation count, the same renders per seed as the demo's (a)) and (b) on the demo's
generated store (``<demo>/dataset``), then scores both on the demo's real test renders. Nets:
``dilated`` (toyfaces.dilated: one downsampling, dilated residual trunk, an independent
architecture), ``unet-wide`` (the headroom U-Net, ``toyfaces.training.HEADROOM_NET``) and ``unet``
(the demo's own).
Prints mean +- std over the seeds and the difference (b) - (a).

``--kinds real generated oracle`` adds a third training set: the generated store's images with
the oracle annotator's labels instead of the interpreter's (computed once, kept in
``<demo>/dataset-oracle-labels.npz``). It separates what limits (b): the gap (oracle) - (b) is
what the interpreter's labels lose, the gap (a) - (oracle) what the generated images themselves
lose against real renders.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

NETS = ("dilated", "unet-wide", "unet")
KINDS = ("real", "generated", "oracle")
KIND_TITLES = {"real": "(a) {n} real, exact masks", "generated": "(b) generated",
               "oracle": "generated images, oracle labels"}  # fmt: skip
ORACLE_FILE = "dataset-oracle-labels.npz"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"))
    p.add_argument("--nets", nargs="+", choices=NETS, default=["dilated", "unet-wide"])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--kinds", nargs="+", choices=KINDS, default=["real", "generated"])
    return p


def _net(name: str) -> Any:
    from datasetgan.toyfaces.dilated import DilatedNetConfig
    from datasetgan.toyfaces.segnet import SegNetConfig
    from datasetgan.toyfaces.training import HEADROOM_NET

    return {"dilated": DilatedNetConfig(), "unet-wide": HEADROOM_NET, "unet": SegNetConfig()}[name]


def run(
    net: str, kind: str, seed: int, demo: dict[str, Any], steps: int, batch: int
) -> dict[str, Any]:
    """One training run in a worker process: (net, one of KINDS, seed) -> scores."""
    import torch

    from datasetgan.demo.evaluation import generated_dataset, tensors_dataset
    from datasetgan.toyfaces.data import render_cached
    from datasetgan.toyfaces.segnet import SegTrainConfig, evaluate_segnet, train_segnet

    torch.set_num_threads(1)
    cache = Path(demo["out"]) / "real"
    test = tensors_dataset(*render_cached(demo["test_first_seed"], demo["n_real_test"], cache))
    if kind == "real":
        first = demo["real_train_first_seed"] + 10_000 * seed
        train = tensors_dataset(*render_cached(first, demo["n_annotate"], cache))
    elif kind == "generated":
        train = generated_dataset(Path(demo["out"]) / "dataset")
    else:
        images = _generated_images(Path(demo["out"]))
        with np.load(Path(demo["out"]) / ORACLE_FILE) as f:
            train = tensors_dataset(images, f["labels"])
    start = time.perf_counter()
    model = train_segnet(train, config=SegTrainConfig(steps=steps, batch_size=batch, seed=seed),
                         model_config=_net(net))  # fmt: skip
    iou = evaluate_segnet(model, test)
    return {"net": net, "kind": kind, "seed": seed, "miou": float(iou.miou),
            "n_train": len(train), "seconds": time.perf_counter() - start}  # type: ignore[arg-type]  # fmt: skip


def _generated_images(demo_out: Path) -> np.ndarray:
    """The demo's generated images, uint8 [N, H, W, 3] in store order."""
    from datasetgan.storage import read_fields

    return read_fields(demo_out / "dataset", ("image",))["image"]


def oracle_labels(demo_out: Path) -> Path:
    """The oracle annotator's labels [N, H, W] of the generated store's images, computed once."""
    from datasetgan import toyfaces

    path = demo_out / ORACLE_FILE
    if not path.is_file():
        images = _generated_images(demo_out)
        np.savez_compressed(path, labels=toyfaces.oracle_annotate_batch(images))
    return path


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run_file = args.demo / "demo_run.json"
    if not (args.demo / "dataset" / "data.h5").is_file() or not run_file.is_file():
        raise SystemExit(
            f"{args.demo}: no finished demo (dataset/data.h5, demo_run.json); run `datasetgan demo` first"
        )
    demo = json.loads(run_file.read_text())["config"] | {"out": str(args.demo.resolve())}
    if "oracle" in args.kinds:
        print(f"oracle labels of the generated images: {oracle_labels(args.demo)}", flush=True)
    jobs = [(net, kind, seed) for net in args.nets for seed in args.seeds for kind in args.kinds]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
        futures = [pool.submit(run, *job, demo, args.steps, args.batch_size) for job in jobs]
        results = [f.result() for f in futures]
    titles = [KIND_TITLES[k].format(n=demo["n_annotate"]) for k in args.kinds]
    diff = "real" in args.kinds and "generated" in args.kinds
    print(
        f"| net ({args.steps} steps) | " + " | ".join(titles) + (" | (b) - (a) |" if diff else " |")
    )
    print("|---" * (1 + len(titles) + diff) + "|")
    for net in args.nets:
        means = {}
        cells = []
        for kind in args.kinds:
            v = np.array([r["miou"] for r in results if r["net"] == net and r["kind"] == kind])
            means[kind] = v.mean()
            cells.append(f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}")
        extra = f" | {means['generated'] - means['real']:+.3f}" if diff else ""
        print(f"| {net} | " + " | ".join(cells) + extra + " |")
    print(
        f"\n{len(results)} runs, {sum(r['seconds'] for r in results) / 60:.1f} CPU-minutes of training; "
        f"test: {demo['n_real_test']} real renders from seed {demo['test_first_seed']}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

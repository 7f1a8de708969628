"""Does the generated dataset's recipe move (b)? Truncation and dataset size, on a finished demo.

Run (after ``datasetgan demo``):
    .venv/bin/python benchmarks/generation_settings.py [--demo runs/demo]
        [--settings 0.7:512 1.0:512 0.7:2048] [--seeds 0 1 2] [--workers 2] [--threads 2]

Each setting is ``TRUNCATION:SIZE``. For each one it draws SIZE samples with the demo's generator
(the demo's own generation seeds, ``derive_seed(dataset_seed, i)``, at that truncation), labels
them with the demo's main interpreter (``<demo>/interpreter``) and, separately, with the oracle
annotator, then trains the demo's segnet (its steps and augmentation, one run per seed) on each
labelling and scores it on the demo's real test renders, as the demo's (b) is scored. Prints
mean +- std per setting and labelling. The setting of the demo's own (b) (its truncation and
``n_generate``) reproduces its (b) up to the last bits of the renders.

The oracle column bounds what better interpreter labels could give at that setting; the rows
show whether less truncation (more variety, less fidelity) or more samples help the segnet.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

LABELLINGS = ("interpreter", "oracle")


def _setting(text: str) -> tuple[float, int]:
    try:
        truncation, size = text.split(":")
        return float(truncation), int(size)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected TRUNCATION:SIZE, for example 0.7:512"
        ) from None


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--demo", type=Path, default=Path("runs/demo"))
    p.add_argument("--settings", type=_setting, nargs="+",
                   default=[(0.7, 512), (1.0, 512), (0.7, 2048)])  # fmt: skip
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=2, help="torch threads while generating")
    return p


def generate(demo: dict[str, Any], truncation: float, size: int, threads: int, out: Path) -> Path:
    """Draw, label (interpreter and oracle) and save ``size`` samples -> ``out`` (.npz)."""
    import torch

    from datasetgan import toyfaces
    from datasetgan.interpreter import load_interpreter
    from datasetgan.models.imaging import to_uint8
    from datasetgan.models.stylegan2 import derive_seed
    from datasetgan.models.stylegan2.checkpoint import load_generator
    from datasetgan.models.stylegan2.sampling import w_plus_from_seeds

    torch.set_num_threads(threads)
    generator = load_generator(demo["generator"])
    interpreter = load_interpreter(Path(demo["out"]) / "interpreter", generator=generator)
    seeds = [derive_seed(demo["dataset_seed"], i) for i in range(size)]
    ws = w_plus_from_seeds(generator, seeds, truncation=truncation)
    images, labels = [], []
    with torch.no_grad():
        for start in range(0, size, demo["batch_size"]):
            image, result = interpreter.render_and_label(
                generator, ws[start : start + demo["batch_size"]]
            )
            images.append(to_uint8(image))
            labels.append(result.labels.numpy().astype(np.uint8))
    pictures = np.concatenate(images)
    np.savez(out, images=pictures, interpreter=np.concatenate(labels),
             oracle=toyfaces.oracle_annotate_batch(pictures))  # fmt: skip
    return out


def train_and_score(data: str, labelling: str, seed: int, demo: dict[str, Any]) -> float:
    """One segnet run in a worker process: the demo's segnet on (images, labels) -> test mIoU."""
    import torch

    from datasetgan.demo.evaluation import segnet_quality, tensors_dataset
    from datasetgan.toyfaces.data import render_cached
    from datasetgan.toyfaces.segnet import SegTrainConfig

    torch.set_num_threads(1)
    with np.load(data) as f:
        train = tensors_dataset(f["images"], f[labelling])
    test = tensors_dataset(
        *render_cached(demo["test_first_seed"], demo["n_real_test"], Path(demo["out"]) / "real")
    )
    config = SegTrainConfig(steps=demo["segnet_steps"], seed=seed)
    return float(segnet_quality(labelling, train, test, config=config).test.miou)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    run_file = args.demo / "demo_run.json"
    if not (args.demo / "interpreter").is_dir() or not run_file.is_file():
        raise SystemExit(
            f"{args.demo}: no finished demo (interpreter/, demo_run.json); run `datasetgan demo` first"
        )
    demo = json.loads(run_file.read_text())["config"] | {"out": str(args.demo.resolve())}
    print(f"demo {args.demo}: its (b) is truncation {demo['truncation']}, "
          f"{demo['n_generate']} samples; segnet {demo['segnet_steps']} steps", flush=True)  # fmt: skip
    context = multiprocessing.get_context("spawn")
    rows = []
    with tempfile.TemporaryDirectory(prefix="generation-settings-") as tmp:
        for truncation, size in args.settings:
            t0 = time.perf_counter()
            data = generate(demo, truncation, size, args.threads,
                            Path(tmp) / f"psi{truncation}-n{size}.npz")  # fmt: skip
            seconds = time.perf_counter() - t0
            print(f"truncation {truncation}, {size} samples: drawn and labelled in {seconds:.0f} s",
                  flush=True)  # fmt: skip
            with ProcessPoolExecutor(max_workers=args.workers, mp_context=context) as pool:
                futures = {
                    labelling: [
                        pool.submit(train_and_score, str(data), labelling, s, demo)
                        for s in args.seeds
                    ]
                    for labelling in LABELLINGS
                }
                scores = {k: np.array([f.result() for f in v]) for k, v in futures.items()}
            rows.append((truncation, size, scores))
    print("\n| truncation | samples | (b) interpreter labels | oracle labels |")
    print("|---:|---:|---:|---:|")
    for truncation, size, scores in rows:
        cells = [
            f"{v.mean():.3f} ± {v.std(ddof=1) if len(v) > 1 else 0.0:.3f}"
            for v in (scores[k] for k in LABELLINGS)
        ]
        print(f"| {truncation} | {size} | " + " | ".join(cells) + " |")
    print(f"\n{len(args.seeds)} seeds; test: {demo['n_real_test']} real renders from seed "
          f"{demo['test_first_seed']}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

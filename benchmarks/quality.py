"""DatasetGAN quality on the toy domain: the demo's measurements, fuller (more held-out samples,
several annotation counts and dataset seeds), printed as one table.

Run: .venv/bin/python benchmarks/quality.py [--annotations 8 16 32] [--seeds 0 1] [--n-generate 1000]
         [--n-eval 1000] [--n-test 500] [--segnet-steps 400] [--embed 0] [--real-baseline]
         [--generator assets/default/generator] [--encoder assets/default/encoder] [--out runs/quality]

For each (annotation count A, seed s) it runs the demo's steps (flows, Prefect's ephemeral mode)
into ``<out>/a<A>-s<s>/``: sample A*2 candidates with seed 100+s, oracle-annotate the first A, train
the interpreter, generate --n-generate labelled pairs with dataset seed 200+s, then measures the
interpreter against the oracle on the first --n-eval generated samples (all, kept 90 %, dropped 10 %)
and the small segnet trained on the generated store (all / 10 % most uncertain dropped) and on the A
annotated images alone, each tested on --n-test real renders (seeds from 200,000) with exact masks.
With --embed N it also embeds N real images (seeds from 600,000) and scores their labels through the
encoder. --real-baseline adds the segnet trained on --n-generate real renders (seeds from 100,000):
what a perfect generator and interpreter would give. Runs resume (finished steps are kept).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from datasetgan.demo.config import ENCODER_DIR, GENERATOR_DIR


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--annotations", type=int, nargs="+", default=[8, 16, 32])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--n-generate", type=int, default=1024)
    p.add_argument("--n-eval", type=int, default=1024)
    p.add_argument("--n-test", type=int, default=500)
    p.add_argument("--segnet-steps", type=int, default=400)
    p.add_argument("--embed", type=int, default=0, help="real images to embed (0 = skip)")
    p.add_argument("--real-baseline", action="store_true")
    p.add_argument("--truncation", type=float, default=0.7)
    p.add_argument("--generator", type=Path, default=GENERATOR_DIR)
    p.add_argument("--encoder", type=Path, default=ENCODER_DIR)
    p.add_argument("--out", type=Path, default=Path("runs/quality"))
    return p


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    import torch

    from datasetgan.demo.config import DemoConfig
    from datasetgan.demo.evaluation import real_dataset, segnet_quality
    from datasetgan.demo.run import run_demo
    from datasetgan.flows.cli_support import bar
    from datasetgan.toyfaces.segnet import SegTrainConfig

    steps = ["sample", "annotate", "interpreter", "generate", "interpreter_quality", "segnet"]
    if args.embed:
        steps[4:4] = ["embed"]
        steps.append("embedding_quality")
    header = ["annotated", "seed", "interp. vs oracle", "kept 90%", "dropped 10%",
              "segnet: generated", "segnet: gen. -10%", "segnet: annotated only",
              "real via encoder", "minutes"]  # fmt: skip
    lines = [_row(header), _row(["---"] * len(header))]
    for a in args.annotations:
        for s in args.seeds:
            cfg = DemoConfig(
                out=args.out / f"a{a}-s{s}", generator=args.generator, encoder=args.encoder,
                n_candidates=2 * a, n_annotate=a, n_generate=args.n_generate,
                n_eval_generated=args.n_eval, n_embed=max(args.embed, 1),
                n_real_test=args.n_test, segnet_steps=args.segnet_steps,
                truncation=args.truncation, sample_seed=100 + s, dataset_seed=200 + s,
            )  # fmt: skip
            t0 = time.perf_counter()
            with bar(True):
                run_demo(cfg, say=print, only=steps, report=False)
            lines.append(_table_row(cfg, a, s, time.perf_counter() - t0))
            print("\n".join(lines), flush=True)
    if args.real_baseline:
        torch.set_num_threads(1)
        train = real_dataset(range(100_000, 100_000 + args.n_generate))
        test = real_dataset(range(200_000, 200_000 + args.n_test))
        r = segnet_quality("real", train, test, config=SegTrainConfig(steps=args.segnet_steps))
        lines.append(
            f"\nsegnet trained on {r.n_train} real renders with exact masks (upper bound): "
            f"mIoU {r.test.miou:.3f} on {r.test.n_images} real ({r.train_seconds:.0f} s)"
        )
    print("\n".join(lines))
    return 0


def _table_row(cfg: object, a: int, s: int, seconds: float) -> str:
    import json

    out = Path(cfg.out) / "steps"  # type: ignore[attr-defined]

    def load(name: str) -> dict:  # type: ignore[type-arg]
        path = out / f"{name}.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    iq, seg, emb = load("interpreter_quality"), load("segnet"), load("embedding_quality")
    real = f"{emb['labels']['miou']:.3f}" if emb else "-"
    return _row([
        str(a), str(s), f"{iq['all']['miou']:.3f} (n={iq['all']['n_images']})",
        f"{iq['kept']['miou']:.3f}", f"{iq['dropped']['miou']:.3f}",
        f"{seg['generated']['test']['miou']:.3f}", f"{seg['generated_drop']['test']['miou']:.3f}",
        f"{seg['annotated']['test']['miou']:.3f}", real, f"{seconds / 60:.1f}",
    ])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())

"""train-interpreter from annotated real images (HandsOff): inversion, masks to the label size,
mixing with generated annotations, what the interpreter records, and every refusal at once."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from pydantic import ValidationError
from typer.testing import CliRunner

import tests.flows.helpers  # noqa: F401  (a temporary PREFECT_HOME before Prefect loads)
from datasetgan.flows.cli import app
from datasetgan.interpreter import load_interpreter
from datasetgan.interpreter.real import REAL_FIRST_ID, fit_mask, pair_real_images, real_annotations
from datasetgan.models.encoders import EncoderConfig, build_encoder, save_encoder
from datasetgan.models.imaging import to_uint8
from datasetgan.models.stylegan2 import (
    GeneratorConfig,
    load_generator,
    save_generator,
    w_plus_from_seeds,
)
from datasetgan.pipeline import runs
from datasetgan.pipeline.params import SampleParams, TrainInterpreterParams
from tests.models.stylegan2.helpers import perturbed

NAMES = ["background", "skin", "hair"]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("handsoff")
    g = save_generator(
        perturbed(
            GeneratorConfig(resolution=32, w_dim=32, n_mlp=2, channel_base=128, channel_max=16)
        ),
        root / "g",
    )
    gen = load_generator(g)
    enc = build_encoder(EncoderConfig(kind="psp", n_styles=gen.n_latent, style_dim=32, input_size=32,
                                      units=(1, 1, 1, 1), widths=(8, 8, 16, 16), se_reduction=4))  # fmt: skip
    enc.set_latent_avg(gen.w_avg)
    encoder = save_encoder(enc, root / "enc")
    images, masks = root / "real" / "images", root / "real" / "masks"
    images.mkdir(parents=True)
    masks.mkdir(parents=True)
    with torch.no_grad():
        pics = to_uint8(gen.synthesize(w_plus_from_seeds(gen, range(50, 56)), taps="none").image)
    rng = np.random.default_rng(0)
    for k, pic in enumerate(pics):  # 40x36 photos: not square, not the generator's size
        Image.fromarray(pic).resize((40, 36)).save(images / f"photo_{k}.jpg")
        Image.fromarray(rng.integers(0, 3, (36, 40)).astype(np.uint8), mode="L").save(
            masks / f"photo_{k}.png"
        )
    (masks / "classes.json").write_text(json.dumps(NAMES))
    run = root / "run"
    runs.sample(
        SampleParams(
            generator=g, out=run, n=4, shard_size=4, render={"batch_size": 2}, class_names=NAMES
        )
    )
    for i in range(3):
        Image.fromarray(rng.integers(0, 3, (32, 32)).astype(np.uint8), mode="L").save(
            run / "annotations" / f"{i:08d}.png"
        )
    return {"g": g, "encoder": encoder, "images": images, "masks": masks, "run": run, "root": root}


def _params(files: dict[str, Path], out: Path, **kw: object) -> TrainInterpreterParams:
    values = {
        "generator": files["g"],
        "real_images": files["images"],
        "real_masks": files["masks"],
        "encoder": files["encoder"],
        "out": out,
        "members": 2,
        "max_steps": 5,
        "eval_every": 5,
    }
    return TrainInterpreterParams(**(values | kw))  # type: ignore[arg-type]


def test_real_images_train_an_interpreter_that_records_them(files: dict[str, Path]) -> None:
    out = files["root"] / "interp"
    result = runs.train_interpreter(
        _params(files, out, refine="optimize", refine_steps=3, latent_pull=0.5)
    )
    report = json.loads((out / "report.json").read_text())
    rows = report["real_images"]
    assert len(rows) == 6 and all(r["id"] >= REAL_FIRST_ID and np.isfinite(r["mse"]) for r in rows)
    assert all(r["mse"] <= r["mse_encoder"] + 1e-6 for r in rows)  # refinement keeps the best step
    assert np.load(out / "real_codes.npy").shape == (6, 8, 32)
    interp = load_interpreter(out)
    assert interp.class_names == tuple(NAMES) and result["steps"] == 5
    assert Path(result["preview"]).is_file()


def test_mixed_with_generated_annotations(files: dict[str, Path]) -> None:
    out = files["root"] / "mixed"
    runs.train_interpreter(
        _params(
            files, out, annotations=files["run"] / "annotations", samples=files["run"] / "samples"
        )
    )
    report = json.loads((out / "report.json").read_text())
    ids = report["train_ids"] + report["val_ids"]
    assert sum(i < REAL_FIRST_ID for i in ids) == 3 and sum(i >= REAL_FIRST_ID for i in ids) == 6


def test_mask_fit_matches_the_images_centre_square() -> None:
    mask = np.zeros((36, 40), np.uint8)
    mask[:, :2] = 1  # outside the centred 36x36 square
    mask[:, 2:5] = 2
    fitted = fit_mask(mask, 18)
    assert fitted.shape == (18, 18) and 1 not in fitted and (fitted[:, 0] == 2).all()


def test_every_bad_pair_is_refused_at_once(files: dict[str, Path], tmp_path: Path) -> None:
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir()
    masks.mkdir()
    for name in ("a", "b", "c", "d"):
        Image.new("RGB", (20, 20)).save(images / f"{name}.png")
    Image.fromarray(np.zeros((20, 20), np.uint8), mode="L").save(masks / "a.png")  # good
    Image.fromarray(np.zeros((10, 20), np.uint8), mode="L").save(masks / "b.png")  # size
    Image.fromarray(np.full((20, 20), 7, np.uint8), mode="L").save(masks / "c.png")  # class 7
    with pytest.raises(ValidationError) as caught:
        _params(files, tmp_path / "x", real_images=images, real_masks=masks, classes=NAMES)
    text = str(caught.value)
    assert "3 masks cannot be used" in text
    assert (
        "b.png: 20x10 (WxH), its image is 20x20" in text
        and "class id(s) [7]" in text
        and "d.png: no mask" in text
    )
    with pytest.raises(
        ValidationError, match="give --real-images, --real-masks and --encoder together"
    ):
        TrainInterpreterParams(generator=files["g"], real_images=images, out=tmp_path / "y")
    with pytest.raises(ValidationError, match="nothing to train on"):
        TrainInterpreterParams(generator=files["g"], out=tmp_path / "z")


def test_cli_flags(files: dict[str, Path]) -> None:
    out = files["root"] / "cli"
    result = CliRunner().invoke(app, ["train-interpreter", str(files["g"]), "--real-images", str(files["images"]),
                                      "--real-masks", str(files["masks"]), "--encoder", str(files["encoder"]),
                                      "--out", str(out), "--members", "2", "--max-steps", "3",
                                      "--max-pixel-error", "0.5"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (out / "interpreter.json").is_file() and (out / "real_codes.npy").is_file()
    rows = json.loads((out / "report.json").read_text())["real_images"]
    assert all(r["left_out"] is not None for r in rows)


def test_max_pixel_error_leaves_out_the_pixels_the_reconstruction_misses(
    files: dict[str, Path],
) -> None:
    out = files["root"] / "left-out"
    runs.train_interpreter(_params(files, out, max_pixel_error=0.05))
    rows = json.loads((out / "report.json").read_text())["real_images"]
    # an untrained encoder's reconstructions miss most pixels by more than 5 % of the range
    assert len(rows) == 6 and all(0.0 < r["left_out"] <= 1.0 for r in rows)
    assert max(r["left_out"] for r in rows) > 0.2
    plain = json.loads((files["root"] / "interp" / "report.json").read_text())["real_images"]
    assert all(r["left_out"] is None for r in plain)
    with pytest.raises(ValidationError, match="--max-pixel-error leaves out real-mask pixels"):
        TrainInterpreterParams(
            generator=files["g"],
            annotations=files["run"] / "annotations",
            samples=files["run"] / "samples",
            out=out,
            max_pixel_error=0.1,
        )


def test_leave_out_marks_pixels_not_annotated(files: dict[str, Path]) -> None:
    pairs = pair_real_images(files["images"], files["masks"], n_classes=3)[:2]
    codes = [torch.zeros(8, 32), torch.zeros(8, 32)]
    leave = [np.zeros((32, 32), bool), np.ones((32, 32), bool)]
    leave[0][:4] = True
    ann, _ = real_annotations(pairs, codes, class_names=NAMES, label_size=32,
                              folder=files["masks"], leave_out=leave)  # fmt: skip
    first, second = (item.mask for item in ann.items)
    assert (first[:4] == -1).all() and (first[4:] >= 0).all() and (second == -1).all()
    with pytest.raises(ValueError, match=r"leave_out\[0\]: got \(16, 16\), expected \(32, 32\)"):
        real_annotations(pairs, codes, class_names=NAMES, label_size=32, folder=files["masks"],
                         leave_out=[np.zeros((16, 16), bool)] * 2)  # fmt: skip

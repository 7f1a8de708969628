"""`import-masks`: labelme JSON, CVAT Segmentation mask 1.1 and index / colour PNGs become an
annotation folder that train-interpreter's reader accepts; bad files are reported one per line and
nothing half-written is left."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from datasetgan.annotate.errors import ImportFailed
from datasetgan.annotate.importers import import_masks
from datasetgan.interpreter import load_annotations

NAMES = ["background", "skin", "hair"]


def _labelme(path: Path, shapes: list[dict[str, object]], h: int = 20, w: int = 30) -> None:
    path.write_text(
        json.dumps({"shapes": shapes, "imageHeight": h, "imageWidth": w, "imagePath": "x.png"})
    )


def test_labelme_polygons_rectangles_circles(tmp_path: Path) -> None:
    src = tmp_path / "labelme"
    src.mkdir()
    _labelme(src / "img_0007.json", [
        {"label": "skin", "shape_type": "rectangle", "points": [[2, 2], [11, 9]]},
        {"label": "hair", "shape_type": "polygon", "points": [[20, 2], [28, 2], [28, 10]]},
        {"label": "hair", "shape_type": "circle", "points": [[6, 15], [9, 15]]},
    ])  # fmt: skip
    written = import_masks("labelme", src, tmp_path / "out", classes=NAMES)
    assert [p.name for p in written] == ["00000007.png"]
    mask = np.asarray(Image.open(written[0]))
    assert mask.shape == (20, 30) and Image.open(written[0]).mode == "P"
    assert (mask[2:10, 2:12] == 1).all() and mask[0, 0] == 0  # uncovered -> class 0
    assert mask[3, 27] == 2 and mask[15, 6] == 2 and mask[15, 9] == 2
    ann = load_annotations(tmp_path / "out")
    assert ann.class_names == tuple(NAMES) and ann.ids == (7,)
    ignored = import_masks("labelme", src, tmp_path / "out2", classes=NAMES, unlabelled="ignore")
    assert np.asarray(Image.open(ignored[0]))[0, 0] == 255


def test_every_bad_file_is_reported_and_nothing_is_written(tmp_path: Path) -> None:
    src = tmp_path / "labelme"
    src.mkdir()
    _labelme(
        src / "1.json",
        [{"label": "skin", "shape_type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]}],
    )
    _labelme(
        src / "2.json",
        [{"label": "hat", "shape_type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]}],
    )
    _labelme(src / "3.json", [])
    (src / "4.json").write_text("{not json")
    with pytest.raises(ImportFailed) as caught:
        import_masks("labelme", src, tmp_path / "out", classes=NAMES)
    text = str(caught.value)
    assert "3 file(s) cannot be imported, nothing written" in text
    assert "2.json: label 'hat' is not in the class list" in text
    assert "3.json: no shapes" in text and "4.json: not a labelme JSON" in text
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").iterdir())
    with pytest.raises(ImportFailed, match="1 masks written, 3 skipped"):
        import_masks("labelme", src, tmp_path / "out", classes=NAMES, skip_bad=True)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["00000001.png", "classes.json"]


def test_cvat_segmentation_mask_export(tmp_path: Path) -> None:
    src = tmp_path / "cvat"
    (src / "SegmentationClass").mkdir(parents=True)
    (src / "labelmap.txt").write_text(
        "# label:color_rgb:parts:actions\nbackground:0,0,0::\nskin:250,50,83::\nhair:51,221,255::\n"
    )
    rgb = np.zeros((8, 8, 3), np.uint8)
    rgb[:4] = (250, 50, 83)
    rgb[6:, 6:] = (51, 221, 255)
    Image.fromarray(rgb).save(src / "SegmentationClass" / "frame_000012.png")
    written = import_masks("cvat", src, tmp_path / "out")
    mask = np.asarray(Image.open(written[0]))
    assert (
        written[0].name == "00000012.png"
        and (mask[:4] == 1).all()
        and mask[7, 7] == 2
        and mask[5, 0] == 0
    )
    rgb[0, 0] = (1, 2, 3)
    Image.fromarray(rgb).save(src / "SegmentationClass" / "frame_000012.png")
    with pytest.raises(ImportFailed, match=r"colour \(1, 2, 3\) is not in the colour table"):
        import_masks("cvat", src, tmp_path / "out3")


def test_png_index_and_colour_table(tmp_path: Path) -> None:
    src = tmp_path / "png"
    src.mkdir()
    (src / "classes.json").write_text(
        json.dumps({"class_names": NAMES, "palette": [[0, 0, 0], [255, 0, 0], [0, 0, 255]]})
    )
    Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8), mode="L").save(src / "a_1.png")
    Image.fromarray(np.array([[[255, 0, 0], [0, 0, 255]], [[0, 0, 0], [0, 0, 0]]], np.uint8)).save(
        src / "a_2.png"
    )
    written = import_masks("png", src, tmp_path / "out")
    assert np.asarray(Image.open(written[0])).tolist() == [[0, 1], [2, 255]]
    assert np.asarray(Image.open(written[1])).tolist() == [[1, 2], [0, 0]]
    Image.fromarray(np.array([[9, 0], [0, 0]], np.uint8), mode="L").save(src / "a_3.png")
    with pytest.raises(ImportFailed, match=r"a_3\.png: class id\(s\) \[9\] outside 0\.\.2"):
        import_masks("png", src, tmp_path / "out4")


def test_size_must_match_the_run_folders_images(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "images").mkdir(parents=True)
    Image.new("RGB", (16, 16)).save(run / "images" / "00000001.png")
    src = tmp_path / "png"
    src.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8), mode="L").save(src / "1.png")
    with pytest.raises(
        ImportFailed, match=r"1\.png: mask is 8x8 \(WxH\), its image 00000001\.png is 16x16"
    ):
        import_masks("png", src, run / "annotations", classes=NAMES)


def test_cli(tmp_path: Path) -> None:
    from datasetgan.flows.cli import app

    src = tmp_path / "labelme"
    src.mkdir()
    _labelme(
        src / "3.json",
        [{"label": "skin", "shape_type": "polygon", "points": [[0, 0], [5, 0], [5, 5]]}],
    )
    result = CliRunner().invoke(
        app,
        [
            "import-masks",
            "labelme",
            str(src),
            "--out",
            str(tmp_path / "o"),
            "--classes",
            "background,skin,hair",
        ],
    )
    assert result.exit_code == 0 and "1 masks written" in result.output, result.output
    bad = CliRunner().invoke(app, ["import-masks", "gimp", str(src), "--out", str(tmp_path / "o")])
    assert bad.exit_code == 2 and "one of labelme, cvat, png" in bad.output

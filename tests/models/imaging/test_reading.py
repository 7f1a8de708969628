"""Reading images of any mode and size; broken files are reported, not raised."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from datasetgan.models.imaging import (
    ImageReadConfig,
    ImageReadError,
    list_files,
    read_image,
    read_images,
    to_signed_float,
)


def _gradient(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.float64)[None, :].repeat(h, 0)
    y = np.linspace(0, 255, h, dtype=np.float64)[:, None].repeat(w, 1)
    return np.stack([x, y, 255 - x], -1).astype(np.uint8)


def _write_modes(root: Path) -> dict[str, Path]:
    rgb = _gradient(40, 30)
    files: dict[str, Path] = {}

    def save(name: str, img: Image.Image, **kw: object) -> None:
        files[name] = root / name
        img.save(files[name], **kw)

    save("rgb.png", Image.fromarray(rgb))
    save("rgb.jpg", Image.fromarray(rgb), quality=95)
    save("grey.png", Image.fromarray(rgb[..., 0]))
    save("grey16.png", Image.fromarray(rgb[..., 0].astype(np.uint16) * 257))
    rgba = np.concatenate([rgb, np.full((30, 40, 1), 0, np.uint8)], -1)
    save("rgba_clear.png", Image.fromarray(rgba, mode="RGBA"))
    save(
        "palette.png", Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    )
    save("la.png", Image.fromarray(np.stack([rgb[..., 0], rgb[..., 1]], -1), mode="LA"))
    save("bw.png", Image.fromarray(rgb[..., 0] > 128))
    save("cmyk.jpg", Image.fromarray(rgb).convert("CMYK"))
    save("float.tif", Image.fromarray(rgb[..., 0].astype(np.float32) / 255.0, mode="F"))
    return files


def test_every_mode_reads_to_rgb(tmp_path: Path) -> None:
    files = _write_modes(tmp_path)
    cfg = ImageReadConfig(size=16)
    for name, path in files.items():
        arr = read_image(path, cfg)
        assert arr.shape == (16, 16, 3) and arr.dtype == np.uint8, name
    grey = read_image(files["grey.png"], cfg)
    assert np.array_equal(grey[..., 0], grey[..., 1])
    grey16 = read_image(files["grey16.png"], cfg).astype(int)
    assert np.abs(grey16 - grey.astype(int)).max() <= 1  # 16-bit scaled, not clipped to 255
    assert read_image(files["float.tif"], cfg).max() > 200  # [0, 1] floats scaled up
    clear = read_image(files["rgba_clear.png"], cfg)
    assert (clear == 255).all()  # fully transparent over white
    black = read_image(files["rgba_clear.png"], ImageReadConfig(size=16, background="black"))
    assert (black == 0).all()


def test_exif_rotation_is_applied(tmp_path: Path) -> None:
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white, landscape
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    img.save(tmp_path / "rot.jpg", exif=exif, quality=98)
    out = read_image(tmp_path / "rot.jpg", ImageReadConfig(size=20, fit="stretch"))
    # displayed upright it is portrait with the white half on top
    assert out[:8].mean() > 200 and out[-8:].mean() < 50


def test_fit_policies(tmp_path: Path) -> None:
    arr = np.zeros((10, 30, 3), np.uint8)
    arr[:, 10:20] = 255  # white centre third
    Image.fromarray(arr).save(tmp_path / "wide.png")
    crop = read_image(tmp_path / "wide.png", ImageReadConfig(size=10, fit="center_crop"))
    assert crop.min() >= 250  # the centred square is the white block
    pad = read_image(tmp_path / "wide.png", ImageReadConfig(size=30, fit="pad", background="black"))
    assert pad[:10].max() == 0 and pad[-10:].max() == 0 and pad[10:20, 10:20].min() >= 250
    stretch = read_image(tmp_path / "wide.png", ImageReadConfig(size=12, fit="stretch"))
    assert stretch.shape == (12, 12, 3)
    with pytest.raises(ValueError, match="fit"):
        ImageReadConfig(size=8, fit="squash")


def test_broken_files_are_reported_not_raised(tmp_path: Path) -> None:
    files = _write_modes(tmp_path)
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.png").write_bytes(b"")
    good = (tmp_path / "rgb.png").read_bytes()
    (tmp_path / "truncated.png").write_bytes(good[: len(good) // 2])
    (tmp_path / ".hidden.png").write_bytes(good)
    paths = list_files(tmp_path)
    assert str(tmp_path / ".hidden.png") not in paths
    paths.append(str(tmp_path / "missing.png"))
    batch = read_images(paths, ImageReadConfig(size=8))
    assert batch.images.shape == (len(files), 8, 8, 3)
    reasons = {Path(f.path).name: f.reason for f in batch.failures}
    assert set(reasons) == {"notes.txt", "empty.png", "truncated.png", "missing.png"}
    assert "not an image" in reasons["notes.txt"] and "not found" in reasons["missing.png"]
    assert sorted(batch.indices + batch.failure_indices) == list(range(len(paths)))
    with pytest.raises(ImageReadError, match=r"truncated\.png"):
        read_image(tmp_path / "truncated.png", ImageReadConfig(size=8))


def test_to_signed_float_range() -> None:
    x = np.array([[[[0, 255, 127]]]], np.uint8)
    out = to_signed_float(x)
    assert out.shape == (1, 3, 1, 1) and out.min() == -1.0 and out.max() == 1.0
    with pytest.raises(ValueError, match="uint8"):
        to_signed_float(x.astype(np.float32))

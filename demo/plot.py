"""A small line chart with error bars, drawn with PIL (no plotting library is a dependency).

Used for the demo's curve: mIoU (y) against the number of annotations (x, log2-spaced), one line
per series, each point a mean with a +- std bar.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw

COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189))
WIDTH, HEIGHT, MARGIN = 560, 360, 56


def line_chart(
    path: Path,
    xs: Sequence[int],
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    x_label: str,
    y_label: str,
) -> Path:
    """Write a PNG: for each name, (means, stds) at ``xs``; returns ``path``."""
    values = [m + s for means, stds in series.values() for m, s in zip(means, stds, strict=True)]
    lows = [m - s for means, stds in series.values() for m, s in zip(means, stds, strict=True)]
    y0, y1 = max(0.0, min(lows) - 0.05), min(1.0, max(values) + 0.05)
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    left, right, top, bottom = MARGIN, WIDTH - 20, 20, HEIGHT - MARGIN

    def px(i: int, y: float) -> tuple[float, float]:
        fx = i / max(len(xs) - 1, 1)
        return left + fx * (right - left), bottom - (y - y0) / max(y1 - y0, 1e-6) * (bottom - top)

    draw.rectangle((left, top, right, bottom), outline=(80, 80, 80))
    for k in range(6):
        y = y0 + (y1 - y0) * k / 5
        _, yy = px(0, y)
        draw.line((left - 4, yy, left, yy), fill=(80, 80, 80))
        draw.text((4, yy - 6), f"{y:.2f}", fill=(0, 0, 0))
    for i, x in enumerate(xs):
        xx, _ = px(i, y0)
        draw.text((xx - 6, bottom + 6), str(x), fill=(0, 0, 0))
    draw.text(((left + right) / 2 - 60, HEIGHT - 22), x_label, fill=(0, 0, 0))
    draw.text((4, 2), y_label, fill=(0, 0, 0))
    for k, (name, (means, stds)) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = [px(i, m) for i, m in enumerate(means)]
        draw.line(points, fill=colour, width=2)
        for i, (m, s) in enumerate(zip(means, stds, strict=True)):
            (xx, lo), (_, hi) = px(i, m - s), px(i, m + s)
            draw.line((xx, lo, xx, hi), fill=colour, width=1)
            draw.ellipse((xx - 3, points[i][1] - 3, xx + 3, points[i][1] + 3), fill=colour)
        draw.text((left + 10, top + 8 + 14 * k), f"-- {name}", fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    img.save(path)
    return path

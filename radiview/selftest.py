"""A synthetic chest-like film for ``radiview self-test`` (radiview/cli/self_test.py) and tests."""

from __future__ import annotations

from typing import Any


def build_synthetic_chest(height: int = 320, width: int = 288, seed: int = 0) -> Any:
    """A chest-like test film made in numpy: a bright body, two dark lung fields, a spine.

    Not a radiograph of anything; it only exercises decoding-free inference end to end.
    """
    import numpy as np

    from radiview.io.radiograph import Radiograph
    from radiview.io.windowing import window_from_percentiles

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height / 2, width / 2

    def ellipse(y0: float, x0: float, ry: float, rx: float) -> Any:
        return ((yy - y0) / ry) ** 2 + ((xx - x0) / rx) ** 2 <= 1.0

    img = np.full((height, width), 0.08, np.float32)  # air around the patient
    img[ellipse(cy + 0.05 * height, cx, 0.55 * height, 0.46 * width)] = 0.75  # body
    for side in (-1, 1):  # lungs, darker towards the top
        lung = ellipse(cy - 0.02 * height, cx + side * 0.2 * width, 0.36 * height, 0.15 * width)
        img[lung] = 0.25 + 0.15 * (yy[lung] / height)
    img[np.abs(xx - cx) < 0.04 * width] = 0.85  # spine / mediastinum
    img[ellipse(cy + 0.12 * height, cx + 0.05 * width, 0.12 * height, 0.1 * width)] = 0.8  # heart
    for rib in range(8):  # faint ribs
        y = cy - 0.3 * height + rib * 0.075 * height
        img[(np.abs(yy - y - 0.05 * np.abs(xx - cx)) < 2) & (img < 0.6)] += 0.08
    img += rng.normal(0, 0.015, img.shape).astype(np.float32)
    pixels = np.clip(img * 4095, 0, 4095).astype(np.float32)
    return Radiograph(
        pixels=pixels,
        source="<self-test>",
        kind="image",
        bits_stored=12,
        default_window=window_from_percentiles(pixels),
    )

"""Pure windowing verbs (pydicom `apply_*` style): float pixels in, display or unit values out."""

from __future__ import annotations

import numpy as np

from radiview.io.radiograph import Window

#: Percentiles for the default window of files without DICOM window tags.
DEFAULT_PERCENTILES = (0.5, 99.5)

#: Presets for chest radiographs, as fractions of the film's own intensity range
#: (CR/DX values are vendor-scaled, so CT Hounsfield presets do not apply).
#: name -> (lower percentile, upper percentile)
CHEST_PRESETS: dict[str, tuple[float, float]] = {
    "Default": DEFAULT_PERCENTILES,
    "Full dynamic": (0.0, 100.0),
    "Lung": (5.0, 99.9),
    "Mediastinum": (30.0, 99.9),
    "Bone": (40.0, 100.0),
}


def window_from_percentiles(
    pixels: np.ndarray, low: float = DEFAULT_PERCENTILES[0], high: float = DEFAULT_PERCENTILES[1]
) -> Window:
    """A window spanning the given percentiles, computed on a strided sample for speed."""
    step = max(1, int(np.sqrt(pixels.size / 262_144)))  # ~512x512 samples are plenty
    sample = np.asarray(pixels[::step, ::step], dtype=np.float64)
    lo, hi = np.percentile(sample, [low, high])
    return Window.from_bounds(float(lo), float(hi))


def apply_window_unit(pixels: np.ndarray, window: Window) -> np.ndarray:
    """Linear window to float32 in [0, 1] (lower bound → 0, upper bound → 1)."""
    out = (np.asarray(pixels, dtype=np.float32) - np.float32(window.lower)) / np.float32(window.width)
    return np.clip(out, 0.0, 1.0, out=out)


def apply_window(pixels: np.ndarray, window: Window, invert: bool = False) -> np.ndarray:
    """Linear window to uint8 for display; ``invert`` flips black and white."""
    unit = apply_window_unit(pixels, window)
    if invert:
        unit = 1.0 - unit
    return np.rint(unit * 255.0).astype(np.uint8)

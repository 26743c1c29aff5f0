"""Pure windowing verbs (pydicom `apply_*` style): float pixels in, display or unit values out."""

from __future__ import annotations

import numpy as np

from radiview.io.radiograph import Window

#: Percentiles for the default window of files without DICOM window tags.
DEFAULT_PERCENTILES = (0.5, 99.5)

#: Presets for chest radiographs, as percentiles of the film's own values: CR/DX values are
#: vendor-scaled, so CT Hounsfield presets (lung 1500/-600 …) mean nothing here. In MONOCHROME2
#: orientation lungs are the dark part of the film and bone/mediastinum the bright part, so
#: "Lung" stretches the lower values (mediastinum saturates white) and "Mediastinum"/"Bone"
#: the upper ones. name -> (lower percentile, upper percentile)
CHEST_PRESETS: dict[str, tuple[float, float]] = {
    "Default": DEFAULT_PERCENTILES,
    "Full dynamic": (0.0, 100.0),
    "Lung": (0.5, 75.0),
    "Mediastinum": (30.0, 99.8),
    "Bone": (50.0, 99.95),
}


def window_for_preset(pixels: np.ndarray, name: str) -> Window:
    """The window of a CHEST_PRESETS entry for this film's pixels (ValueError for unknown names)."""
    try:
        low, high = CHEST_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown window preset {name!r}; known: {', '.join(CHEST_PRESETS)}") from None
    return window_from_percentiles(pixels, low, high)


def window_from_percentiles(
    pixels: np.ndarray, low: float = DEFAULT_PERCENTILES[0], high: float = DEFAULT_PERCENTILES[1]
) -> Window:
    """A window spanning the given percentiles, computed on a strided sample for speed."""
    step = max(1, int(np.sqrt(pixels.size / 262_144)))  # ~512x512 samples are plenty
    sample = np.asarray(pixels[::step, ::step], dtype=np.float64)
    lo, hi = np.percentile(sample, [low, high])
    # 0 and 100 mean the true extremes, which a strided sample can miss (cheap to get exactly)
    if low <= 0.0:
        lo = np.min(pixels)
    if high >= 100.0:
        hi = np.max(pixels)
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

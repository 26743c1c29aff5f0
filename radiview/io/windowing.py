"""Pure windowing verbs (pydicom `apply_*` style): float pixels in, display or unit values out."""

from __future__ import annotations

import re

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
    "Bone": (10.0, 100.0),  # of the body region, with headroom above: see window_for_bone
}

#: The body region: values above this fraction of the film's 1-99.9 percentile range (drops
#: the dark air/padding around the chest that would otherwise drag the percentiles down).
BODY_THRESHOLD = 0.08
#: Bone keeps this fraction of its width above the densest bone, so cortex never saturates.
BONE_HEADROOM = 0.08


def window_for_preset(pixels: np.ndarray, name: str) -> Window:
    """The window of a CHEST_PRESETS entry for this film's pixels (ValueError for unknown names)."""
    try:
        low, high = CHEST_PRESETS[name]
    except KeyError:
        raise ValueError(f"unknown window preset {name!r}; known: {', '.join(CHEST_PRESETS)}") from None
    if name == "Bone":
        return window_for_bone(pixels)
    return window_from_percentiles(pixels, low, high)


def window_for_bone(pixels: np.ndarray) -> Window:
    """A wide window over the film's bone range: from the lung level of the body region up to
    just past its densest bone.

    A percentile window starting at the median (the old preset) put the lungs, and with them
    the ribs projected over the lungs, at black. Here the lower bound is the 10th percentile of
    the body region (darker than the ribs over the lungs, so they stay grey) and the upper bound
    sits a little above the brightest bone, so its centre is high in the histogram.
    """
    sample = _sample(pixels)
    lo, hi = np.percentile(sample, [1.0, 99.9])
    body = sample[sample > lo + BODY_THRESHOLD * (hi - lo)]
    if body.size < 16:
        body = sample
    low_pct, _ = CHEST_PRESETS["Bone"]
    lower = float(np.percentile(body, low_pct))
    top = float(np.percentile(body, 99.95))
    upper = top + BONE_HEADROOM * max(top - lower, 1e-6)
    return Window.from_bounds(lower, upper)


#: Radiograph.metadata key listing every window a DICOM file stores (display space).
STORED_WINDOWS_KEY = "stored_windows"
_STORED = re.compile(r"W (\S+) / L (\S+)(?: \(([^)]*)\))?")


def format_stored_windows(windows: list[tuple[Window, str]]) -> str:
    """``"W 400 / L 40 (LUNG); W 1500 / L -600"``: readable in the tag list, and parsed back."""
    return "; ".join(
        f"W {w.width:.6g} / L {w.center:.6g}" + (f" ({name.replace(')', '')})" if name else "")
        for w, name in windows
    )


def parse_stored_windows(text: str) -> list[tuple[Window, str]]:
    """The windows ``format_stored_windows`` wrote (bad entries are skipped)."""
    out = []
    for match in _STORED.finditer(text or ""):
        try:
            width, center = float(match.group(1)), float(match.group(2))
        except ValueError:
            continue
        out.append((Window(center=center, width=width), match.group(3) or ""))
    return out


def _sample(pixels: np.ndarray) -> np.ndarray:
    step = max(1, int(np.sqrt(pixels.size / 262_144)))  # ~512x512 samples are plenty
    return np.asarray(pixels[::step, ::step], dtype=np.float64).ravel()


def window_from_percentiles(
    pixels: np.ndarray, low: float = DEFAULT_PERCENTILES[0], high: float = DEFAULT_PERCENTILES[1]
) -> Window:
    """A window spanning the given percentiles, computed on a strided sample for speed."""
    sample = _sample(pixels)
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

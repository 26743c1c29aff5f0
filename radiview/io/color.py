"""Colour inputs: how colourful a file really is, and its luminance.

A grayscale film saved as RGB is very common and is not a photo, so a colour file counts as
colour only when its channels really differ (``COLOR_TOLERANCE``). The score is kept as a
typed ``Radiograph.colorfulness``; the input gate compares it with the model card's limit.
"""

from __future__ import annotations

import numpy as np

#: Colourfulness (Hasler & Süsstrunk, on a [0, 1] scale) above which a colour file counts as a
#: colour image. A gray film stored as RGB scores 0; JPEG chroma noise on one stays < 0.01.
COLOR_TOLERANCE = 0.02

#: ITU-R BT.601 luma weights, the ones Pillow's "L" conversion uses.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def colorfulness(rgb: np.ndarray) -> float:
    """Hasler & Süsstrunk (2003) colourfulness of an (H, W, 3) image on a [0, 1] scale.

    0 for gray content; photographs typically score 0.15-0.5. Integer input is scaled by its
    dtype's maximum. Computed on a strided ~512×512 sample: it is a global statistic.
    """
    arr = np.asarray(rgb)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {arr.shape}")
    step = max(1, int(np.sqrt(arr.shape[0] * arr.shape[1] / 262_144)))
    sample = arr[::step, ::step, :3].astype(np.float32)
    if np.issubdtype(arr.dtype, np.integer):
        sample /= np.float32(np.iinfo(arr.dtype).max)
    r, g, b = sample[..., 0], sample[..., 1], sample[..., 2]
    rg = r - g
    yb = 0.5 * (r + g) - b
    return float(np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean()))


def apply_luminance(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) → (H, W) float32 BT.601 luminance, in the input's own units."""
    arr = np.asarray(rgb)[..., :3]
    out = arr[..., 0].astype(np.float32) * LUMA_WEIGHTS[0]
    out += arr[..., 1].astype(np.float32) * LUMA_WEIGHTS[1]
    out += arr[..., 2].astype(np.float32) * LUMA_WEIGHTS[2]
    return out

"""Heatmap rendering in numpy only (no torch, no Qt): colour maps and overlay compositing.

Shared by the GUI viewer, the PDF report and ``radiview predict --heatmap`` so a map looks
the same everywhere. Colour maps are 256-entry uint8 LUTs interpolated from a few control
points copied from matplotlib (jet exactly from its segment data; inferno and viridis from
33 samples, within 5/255 of matplotlib), so rendering never needs matplotlib.
"""

from __future__ import annotations

from functools import cache

import numpy as np

# jet: matplotlib's segment data, (position, value) knots per channel.
_JET = {
    "red": ((0.0, 0.0), (0.35, 0.0), (0.66, 1.0), (0.89, 1.0), (1.0, 0.5)),
    "green": ((0.0, 0.0), (0.125, 0.0), (0.375, 1.0), (0.64, 1.0), (0.91, 0.0), (1.0, 0.0)),
    "blue": ((0.0, 0.5), (0.11, 1.0), (0.34, 1.0), (0.65, 0.0), (1.0, 0.0)),
}

# 33 evenly spaced samples of matplotlib's perceptually uniform maps, as RRGGBB.
_SAMPLED = {
    "inferno": (
        "000004 040312 0b0724 150b37 210c4a 2f0a5b 3d0965 4a0c6b 57106e 64156e 71196e 7d1e6d "
        "8a226a 972766 a32c61 b0315b bc3754 c73e4c d24644 db503b e45a31 eb6628 f1731d f68013 "
        "f98e09 fb9d07 fcac11 fbbc21 f9cb35 f5db4c f2ea69 f3f68a fcffa4"
    ),
    "viridis": (
        "440154 470d60 48186a 482374 472d7b 453781 424086 3e4989 3b528b 375b8d 33638d 2f6b8e "
        "2c728e 297a8e 26828e 23898e 21918c 1f988b 1fa088 22a785 28ae80 32b67a 3fbc73 4ec36b "
        "5ec962 70cf57 84d44b 98d83e addc30 c2df23 d8e219 ece51b fde725"
    ),
}

COLORMAPS = ("jet", "inferno", "viridis")


@cache
def colormap_lut(name: str = "jet") -> np.ndarray:
    """The (256, 3) uint8 LUT of a named colour map (read-only)."""
    t = np.linspace(0.0, 1.0, 256)
    if name == "jet":
        channels = [
            np.interp(t, [p for p, _ in _JET[c]], [v for _, v in _JET[c]]) for c in ("red", "green", "blue")
        ]
        lut = np.stack(channels, axis=1)
    elif name in _SAMPLED:
        points = np.array([[int(h[i : i + 2], 16) for i in (0, 2, 4)] for h in _SAMPLED[name].split()])
        xs = np.linspace(0.0, 1.0, len(points))
        lut = np.stack([np.interp(t, xs, points[:, i] / 255.0) for i in range(3)], axis=1)
    else:
        raise ValueError(f"unknown colour map {name!r}; choose one of {', '.join(COLORMAPS)}")
    out = np.rint(lut * 255.0).astype(np.uint8)
    out.flags.writeable = False
    return out


def _unit(heatmap01: np.ndarray) -> np.ndarray:
    heat = np.nan_to_num(np.asarray(heatmap01, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(heat, 0.0, 1.0)


def apply_colormap(heatmap01: np.ndarray, name: str = "jet") -> np.ndarray:
    """A [0, 1] map (H, W) → uint8 RGB (H, W, 3). Values outside [0, 1] are clipped, NaN is 0."""
    heat = _unit(heatmap01)
    if heat.ndim != 2:
        raise ValueError(f"heatmap must be 2-D, got shape {heat.shape}")
    return colormap_lut(name)[np.rint(heat * 255.0).astype(np.uint8)]


def _as_rgb(gray_uint8: np.ndarray) -> np.ndarray:
    gray = np.asarray(gray_uint8)
    if gray.dtype != np.uint8:
        raise ValueError(f"background must be uint8, got {gray.dtype}")
    if gray.ndim == 2:
        return np.repeat(gray[:, :, None], 3, axis=2)
    if gray.ndim == 3 and gray.shape[2] in (3, 4):
        return gray[:, :, :3].copy()
    raise ValueError(f"background must be (H, W) or (H, W, 3), got shape {gray.shape}")


#: The soft threshold: attention under FADE[0] (of the map's own maximum) is not drawn, and
#: fades in smoothly up to full opacity at FADE[1]. A hard cut drew outlines that read as
#: lesion borders; the UI states these numbers (``fade_text``).
FADE = (0.15, 0.45)


def fade_text(fade: tuple[float, float] = FADE) -> str:
    """The soft threshold in words, for the overlay controls and exports."""
    return (
        f"Attention under {fade[0] * 100:.0f} % of this film's maximum is not drawn; "
        f"it fades in up to {fade[1] * 100:.0f} %."
    )


def heat_alpha(heatmap01: np.ndarray, fade: tuple[float, float] = FADE) -> np.ndarray:
    """Per-pixel opacity in [0, 1]: 0 under ``fade[0]``, 1 over ``fade[1]``, smoothstep between
    (continuous, so the overlay has no edge anywhere)."""
    low, high = float(fade[0]), max(float(fade[1]), float(fade[0]) + 1e-6)
    t = np.clip((_unit(heatmap01) - low) / (high - low), 0.0, 1.0)
    return (t * t * (3.0 - 2.0 * t)).astype(np.float32)


def composite_heatmap(
    gray_uint8: np.ndarray,
    heatmap01: np.ndarray,
    opacity: float = 0.4,
    colormap: str = "jet",
    fade: tuple[float, float] = FADE,
) -> np.ndarray:
    """Blend a colour-mapped heatmap over a windowed film → uint8 RGB (H, W, 3).

    Each pixel is ``(1 - a) * film + a * colour`` with ``a = opacity * heat_alpha(heat)``:
    weak attention leaves the film untouched and strong attention gets the full opacity,
    with a smooth ramp between (no hard edge).
    """
    base = _as_rgb(gray_uint8)
    heat = _unit(heatmap01)
    if heat.shape != base.shape[:2]:
        raise ValueError(f"heatmap shape {heat.shape} does not match the image {base.shape[:2]}")
    alpha = float(np.clip(opacity, 0.0, 1.0)) * heat_alpha(heat, fade)[:, :, None]
    color = apply_colormap(heat, colormap).astype(np.float32)
    return np.rint((1.0 - alpha) * base.astype(np.float32) + alpha * color).astype(np.uint8)


def apply_heatmap_overlay(
    heatmap01: np.ndarray, opacity: float = 0.4, colormap: str = "jet", fade: tuple[float, float] = FADE
) -> np.ndarray:
    """A colour-mapped heatmap as a straight-alpha uint8 RGBA layer (H, W, 4) for a viewer
    that draws it over the film itself: alpha is ``opacity * heat_alpha(heat)``."""
    heat = _unit(heatmap01)
    rgba = np.empty((*heat.shape, 4), dtype=np.uint8)
    rgba[:, :, :3] = apply_colormap(heat, colormap)
    alpha = float(np.clip(opacity, 0.0, 1.0)) * heat_alpha(heat, fade)
    rgba[:, :, 3] = np.rint(alpha * 255.0).astype(np.uint8)
    return rgba

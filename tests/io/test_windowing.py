"""Windowing verbs and the chest presets."""

from __future__ import annotations

import numpy as np
import pytest

from radiview.io import CHEST_PRESETS, Window, apply_window, window_for_preset, window_from_percentiles


def _film() -> np.ndarray:
    return np.linspace(0, 4095, 200 * 300, dtype=np.float32).reshape(200, 300)


def test_presets_are_percentile_pairs_suited_to_chest_films() -> None:
    assert set(CHEST_PRESETS) >= {"Default", "Full dynamic", "Lung", "Mediastinum", "Bone"}
    for low, high in CHEST_PRESETS.values():
        assert 0.0 <= low < high <= 100.0
    lung, mediastinum = CHEST_PRESETS["Lung"], CHEST_PRESETS["Mediastinum"]
    assert lung[1] < 90 and mediastinum[0] > 10  # lungs are the dark part, mediastinum the bright


def test_window_for_preset() -> None:
    film = _film()
    assert window_for_preset(film, "Full dynamic") == Window.from_bounds(0.0, 4095.0)  # exact extremes
    lung = window_for_preset(film, "Lung")
    bone = window_for_preset(film, "Bone")
    assert lung.lower < 50 and lung.upper < 0.8 * 4095
    # Bone: centred high, from the lung level to past the brightest value (never saturating bone).
    assert bone.center > 0.55 * 4095 and bone.upper > 4095 and bone.lower < 0.3 * 4095
    assert window_for_preset(film, "Default") == window_from_percentiles(film)
    with pytest.raises(ValueError, match="unknown window preset 'CT lung'"):
        window_for_preset(film, "CT lung")


def test_full_dynamic_finds_a_lone_extreme_pixel() -> None:
    film = np.zeros((2000, 2000), np.float32)
    film[1, 1] = 9999.0  # a strided sample skips this pixel
    assert window_for_preset(film, "Full dynamic").upper == 9999.0


def test_apply_window_maps_bounds_to_black_and_white() -> None:
    pixels = np.array([[0.0, 100.0, 150.0, 200.0, 400.0]], np.float32)
    window = Window.from_bounds(100.0, 200.0)
    assert apply_window(pixels, window).tolist() == [[0, 0, 128, 255, 255]]
    assert apply_window(pixels, window, invert=True).tolist() == [[255, 255, 128, 0, 0]]


def test_bone_keeps_ribs_over_the_lungs_above_black() -> None:
    """A chest-like film: dark lungs with brighter ribs across them, bright mediastinum."""
    rows, cols = 200, 200
    y, x = np.mgrid[0:rows, 0:cols].astype(np.float64)
    lungs = (np.abs(x - 100) > 25) & (np.abs(x - 100) < 85) & (y > 30) & (y < 170)
    ribs = lungs & (np.sin(y / 6.0) > 0.5)
    film = np.full((rows, cols), 3000.0)  # mediastinum, soft tissue
    film[lungs] = 900.0
    film[ribs] = 1400.0  # a rib over the lung
    film[:, :8] = 50.0  # air beside the chest
    film[90:110, 95:105] = 3900.0  # spine: the densest bone
    shown = apply_window(film.astype(np.float32), window_for_preset(film.astype(np.float32), "Bone"))
    rib_grey, lung_grey = shown[ribs].min(), shown[lungs & ~ribs].max()
    assert rib_grey > 30, "ribs over the lungs went black"  # the old preset gave 0
    assert rib_grey - lung_grey > 20, "ribs not distinguishable from the lung behind them"
    assert shown[90:110, 95:105].max() < 255  # the densest bone is not clipped

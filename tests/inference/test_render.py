"""Heatmap rendering: colour maps against matplotlib, compositing arithmetic, numpy-only imports."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from radiview.render import (
    COLORMAPS,
    FADE,
    apply_colormap,
    apply_heatmap_overlay,
    colormap_lut,
    composite_heatmap,
    fade_text,
    heat_alpha,
)


@pytest.mark.parametrize("name", COLORMAPS)
def test_luts_match_matplotlib(name: str) -> None:
    import matplotlib

    reference = np.rint(matplotlib.colormaps[name](np.linspace(0, 1, 256))[:, :3] * 255)
    lut = colormap_lut(name)
    assert lut.shape == (256, 3) and lut.dtype == np.uint8
    assert np.abs(lut.astype(int) - reference.astype(int)).max() <= (1 if name == "jet" else 5)


def test_apply_colormap_values() -> None:
    heat = np.array([[0.0, 1.0], [0.5, np.nan]], dtype=np.float32)
    rgb = apply_colormap(heat, "jet")
    assert rgb.shape == (2, 2, 3) and rgb.dtype == np.uint8
    assert tuple(rgb[0, 0]) == (0, 0, 128)  # jet starts dark blue
    assert tuple(rgb[0, 1]) == (128, 0, 0)  # and ends dark red
    assert tuple(rgb[1, 1]) == tuple(rgb[0, 0])  # NaN counts as no attention
    assert tuple(apply_colormap(np.array([[7.0, -3.0]]))[0, 0]) == (128, 0, 0)  # clipped
    with pytest.raises(ValueError, match="unknown colour map 'rainbow'"):
        apply_colormap(heat, "rainbow")
    with pytest.raises(ValueError, match="2-D"):
        apply_colormap(np.zeros((2, 2, 2)))


def test_composite_fades_in_softly_without_an_edge() -> None:
    gray = np.full((3, 4), 100, dtype=np.uint8)
    heat = np.zeros((3, 4), dtype=np.float32)
    heat[1, 1:3] = [0.14, 1.0]
    out = composite_heatmap(gray, heat, opacity=0.4, colormap="jet", fade=(0.15, 0.45))
    assert out.shape == (3, 4, 3) and out.dtype == np.uint8
    assert (out[0] == 100).all() and tuple(out[1, 1]) == (100, 100, 100)  # under the fade: untouched
    expected = np.rint(0.6 * 100 + 0.4 * np.array([128, 0, 0])).astype(np.uint8)
    assert tuple(out[1, 2]) == tuple(expected)  # over it: the full opacity
    assert (composite_heatmap(gray, heat, opacity=0.0) == 100).all()
    assert tuple(composite_heatmap(gray, heat, opacity=1.0)[1, 2]) == (128, 0, 0)
    # An RGB background works the same; the input is never modified.
    rgb = np.repeat(gray[:, :, None], 3, axis=2)
    np.testing.assert_array_equal(composite_heatmap(rgb, heat, fade=(0.15, 0.45)), out)
    assert (gray == 100).all()


def test_soft_threshold_is_continuous_and_stated() -> None:
    ramp = np.linspace(0.0, 1.0, 1001, dtype=np.float32)[None, :]
    alpha = heat_alpha(ramp, FADE)[0]
    assert alpha[ramp[0] <= FADE[0]].max() == 0.0 and alpha[ramp[0] >= FADE[1]].min() == 1.0
    assert np.all(np.diff(alpha) >= 0)  # monotone
    assert np.abs(np.diff(alpha)).max() < 0.006  # no jump anywhere: no drawn outline
    assert "15 %" in fade_text() and "45 %" in fade_text()


def test_composite_rejects_mismatches() -> None:
    with pytest.raises(ValueError, match="does not match"):
        composite_heatmap(np.zeros((3, 4), np.uint8), np.zeros((4, 3), np.float32))
    with pytest.raises(ValueError, match="uint8"):
        composite_heatmap(np.zeros((3, 4), np.float32), np.zeros((3, 4), np.float32))


def test_overlay_layer_alpha() -> None:
    heat = np.array([[0.1, 0.9, 0.3]], dtype=np.float32)
    rgba = apply_heatmap_overlay(heat, opacity=0.5, colormap="viridis", fade=(0.2, 0.4))
    assert rgba.shape == (1, 3, 4) and rgba.dtype == np.uint8
    assert rgba[0, 0, 3] == 0 and rgba[0, 1, 3] == 128
    assert rgba[0, 2, 3] == 64  # half-way up the ramp: half the opacity
    np.testing.assert_array_equal(rgba[..., :3], apply_colormap(heat, "viridis"))


def test_render_imports_neither_torch_nor_qt() -> None:
    code = (
        "import sys, radiview.render; "
        "print(sorted(m for m in ('torch', 'PySide6', 'matplotlib') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"

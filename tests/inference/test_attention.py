"""Where the attention map may be shown: inside the body, off burned-in text (display side)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from radiview.inference.attention import build_attention_mask
from radiview.io.radiograph import Radiograph, Window


def synthetic_film(text: bool) -> Radiograph:
    """A bright body on dark air with, optionally, white letters in the top-right corner."""
    rows, cols = 448, 448
    y, x = np.mgrid[0:rows, 0:cols] / np.array([rows, cols])[:, None, None]
    body = (((x - 0.5) / 0.42) ** 2 + ((y - 0.55) / 0.5) ** 2) <= 1.0
    pixels = np.where(body, 0.6 + 0.1 * np.sin(y * 30), 0.02).astype(np.float32)
    pixels[200:230, 200:230] = 1.0  # a bright blob in the middle: a finding, not text
    if text:
        for c0 in (380, 396, 412):  # three letters, 4 px strokes
            pixels[30:60, c0 : c0 + 4] = 1.0
            pixels[56:60, c0 : c0 + 12] = 1.0
    return Radiograph(pixels, "synthetic.png", "image", 8, Window(0.5, 1.0))


def test_air_outside_the_body_is_hidden_softly() -> None:
    mask = build_attention_mask(synthetic_film(text=False))
    assert mask.weights.shape == (448, 448)
    assert mask.weights[5, 5] == 0.0 and mask.weights[440, 5] == 0.0  # corners: air
    assert mask.weights[240, 224] == 1.0 and mask.weights[215, 215] == 1.0  # body and its blob
    assert 0.1 < mask.outside_body_fraction < 0.4 and mask.text_areas == 0
    # Soft: going from air into the body the weight rises over several pixels, no jump.
    row = mask.weights[240, :224]
    assert np.abs(np.diff(row)).max() < 0.35


def test_burned_in_text_near_a_border_is_hidden() -> None:
    mask = build_attention_mask(synthetic_film(text=True))
    assert mask.text_areas == 1
    assert mask.weights[45, 398] < 0.05  # on the letters
    assert mask.weights[215, 215] == 1.0  # the central bright blob stays
    heat = np.zeros((448, 448), np.float32)
    heat[30:60, 380:424] = 1.0
    assert mask.hidden_share(heat) > 0.9
    assert mask.apply(heat).max() < 0.1
    assert "1 burned-in text/marker area" in mask.describe(heat)


@pytest.mark.realdata
def test_siim_corner_marker_is_hidden(data_dir: Path) -> None:
    """The SIIM film's "L" marker (top right) lit up in Grad-CAM; it is now masked."""
    from radiview.io import load_radiograph

    film = load_radiograph(next((data_dir / "dicom").glob("siim-acr_1.2.276*.dcm")))
    mask = build_attention_mask(film)
    assert mask.weights.shape == film.shape
    assert mask.weights[60:100, 880:905].max() < 0.1  # the "L" (rows 7-30, cols 191-201 at 224 px)
    assert mask.weights[300:700, 200:800].min() == 1.0  # the lungs and mediastinum stay
    assert mask.weights[0:30, 0:60].max() == 0.0  # air above the right shoulder
    assert mask.text_areas >= 1 and 0.01 < mask.outside_body_fraction < 0.1


def _text_blob_mask(film: Radiograph) -> np.ndarray:
    from radiview.inference.attention import _small_film, _text_blobs

    return _text_blobs(_small_film(film))[0]


@pytest.mark.realdata
def test_bone_edges_are_not_burned_in_text(data_dir: Path) -> None:
    """Issue 21 item 5: rib ends and clavicle heads of the children's films were taken for text
    (10-11 "burned-in areas" each), punching holes, some ring-shaped, into the map over the chest
    wall and clavicles. Only the "R" marker and the "KV59" label are text on these films."""
    from scipy import ndimage  # type: ignore[import-untyped]

    from radiview.io import load_radiograph

    films = sorted((data_dir / "samples").glob("*__kermany__*.jp*g"))
    assert len(films) == 6
    for path in films:
        film = load_radiograph(path)
        mask = build_attention_mask(film)
        assert mask.text_areas <= 2, f"{path.name}: {mask.text_areas} text areas"
        blobs = _text_blob_mask(film)
        # no ring: a hidden area never encloses shown pixels
        assert np.array_equal(ndimage.binary_fill_holes(blobs), blobs), path.name
        # the chest between 20% and 80% of the width, 25-90% of the height, is never taken for text
        rows, cols = blobs.shape
        assert not blobs[int(0.25 * rows) : int(0.9 * rows), int(0.2 * cols) : int(0.8 * cols)].any(), (
            path.name
        )


@pytest.mark.realdata
def test_the_real_markers_stay_hidden(data_dir: Path) -> None:
    """The bone fix keeps what is text: the "R" and "KV59" of a Kermany film, NIH's corner text."""
    from radiview.io import load_radiograph

    kermany = load_radiograph(data_dir / "samples" / "viral_pneumonia__kermany__person605_virus_1166.jpeg")
    blobs = _text_blob_mask(kermany)
    assert blobs[17:30, 2:12].any()  # "R" (top left at 224 px)
    assert blobs[213:223, 208:222].any()  # "KV59" (bottom right)
    nih = load_radiograph(next((data_dir / "dicom").glob("nih-cxr14_*.dcm")))
    assert build_attention_mask(nih).text_areas >= 1

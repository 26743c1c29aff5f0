"""Issue 21: the model's input must not depend on the window stored in a DICOM for display.

The same pixels gave "No pneumonia 99.5 %" under one stored VOI window and 69.3 % under
another. The model's intensity mapping now comes from the pixel data (the 0.5-99.5 percentile
window every training film got), so:
- a JPEG/PNG film's input is unchanged (bit for bit, so its reading is too);
- one DICOM written with different stored windows gives one reading.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
import pytest

from radiview.inference.classifier import Classifier
from radiview.inference.preprocess import model_window, prepare_image
from radiview.io import load_radiograph
from radiview.io.windowing import apply_window_unit, window_from_percentiles
from tests.gui.conftest import film_pixels, write_dicom

WINDOWS = ((2048.0, 4096.0), (1200.0, 900.0), (2600.0, 1200.0))


@pytest.fixture(scope="module")
def real_classifier() -> Classifier:
    return Classifier.from_bundle(device="cpu")


def _windowed_copies(tmp_path: Path) -> list[Path]:
    pixels = film_pixels(400, 340, 4095, seed=3)
    return [write_dicom(tmp_path / f"w{i}.dcm", pixels, window=window) for i, window in enumerate(WINDOWS)]


def test_model_window_comes_from_the_pixels_not_the_stored_window(tmp_path: Path) -> None:
    films = [load_radiograph(path) for path in _windowed_copies(tmp_path)]
    assert len({f.default_window for f in films}) == len(WINDOWS)  # the display keeps each file's own
    expected = window_from_percentiles(films[0].pixels)
    assert all(model_window(f) == expected for f in films)


@pytest.mark.realdata
def test_jpeg_and_png_inputs_are_unchanged(data_dir: Path) -> None:
    from radiview.inference.card import Preprocessing

    config = Preprocessing()
    samples = sorted((data_dir / "samples").glob("*.*g"))
    assert len(samples) >= 12
    for path in samples:
        film = load_radiograph(path)
        before = apply_window_unit(prepare_image_resized(film, config), film.default_window)
        np.testing.assert_array_equal(prepare_image(film, config), before, err_msg=path.name)


def prepare_image_resized(film, config):  # type: ignore[no-untyped-def]
    """The resize step of prepare_image alone (the old code windowed its output by the film's
    default window, which for a JPEG/PNG is the percentile window)."""
    from PIL import Image

    height, width = config.input_size
    return np.asarray(
        Image.fromarray(np.ascontiguousarray(film.pixels), mode="F").resize(
            (width, height), Image.Resampling.BILINEAR
        ),
        dtype=np.float32,
    )


@pytest.mark.realdata
def test_one_dicom_under_every_stored_window_gives_one_reading(
    tmp_path: Path, real_classifier: Classifier
) -> None:
    predictions = [real_classifier.predict(load_radiograph(p)) for p in _windowed_copies(tmp_path)]
    probabilities = np.array([p.probabilities for p in predictions])
    assert np.abs(probabilities - probabilities[0]).max() <= 0.02
    assert len({p.accepted for p in predictions}) == 1


@pytest.mark.realdata
def test_a_real_dicom_rewritten_with_other_windows_reads_the_same(
    tmp_path: Path, data_dir: Path, real_classifier: Classifier
) -> None:
    source = next((data_dir / "dicom").glob("nih-cxr14_*.dcm"))
    paths = []
    for center, width in ((128.0, 256.0), (90.0, 120.0), (160.0, 80.0)):
        ds = pydicom.dcmread(source)
        ds.WindowCenter, ds.WindowWidth = f"{center}", f"{width}"
        paths.append(tmp_path / f"nih_{center:.0f}_{width:.0f}.dcm")
        ds.save_as(paths[-1])
    original = real_classifier.predict(load_radiograph(source))
    for path in paths:
        again = real_classifier.predict(load_radiograph(path))
        assert (
            max(abs(a - b) for a, b in zip(again.probabilities, original.probabilities, strict=True)) <= 0.02
        )

"""The real chest films in shared/data: every DICOM and every untouched original opens correctly."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from radiview.io import apply_window, load_radiograph, read_dicom_tags

pytestmark = pytest.mark.realdata


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_every_real_dicom_matches_its_catalogue_entry(data_dir: Path) -> None:
    rows = _rows(data_dir / "dicom" / "dicom.csv")
    assert len(rows) == 3
    for row in rows:
        rad = load_radiograph(data_dir / "dicom" / row["file"])
        assert rad.kind == "dicom"
        assert rad.shape == (int(row["rows"]), int(row["columns"]))
        assert rad.bits_stored == int(row["bits_stored"])
        assert rad.photometric == row["photometric"]
        assert rad.metadata["transfer_syntax"] == row["transfer_syntax"]
        assert rad.metadata["modality"] == row["modality"]
        assert rad.view_position == (row["view_position"] or None)
        assert not rad.was_color and rad.warnings == ()
        # MONOCHROME2 orientation over the nominal 8-bit range, stored min/max as catalogued
        lo, hi = float(row["pixel_min"]), float(row["pixel_max"])
        if row["photometric"] == "MONOCHROME1":
            lo, hi = 255 - hi, 255 - lo
        assert (rad.pixels.min(), rad.pixels.max()) == (lo, hi)
        display = apply_window(rad.pixels, rad.default_window)
        assert display.dtype == np.uint8 and display.std() > 30  # a real film, not a blank


def test_siim_spacing_and_metadata(data_dir: Path) -> None:
    path = next((data_dir / "dicom").glob("siim-acr_1.*.dcm"))
    rad = load_radiograph(path)
    assert rad.pixel_spacing_mm == pytest.approx((0.168, 0.168))
    assert rad.metadata["body_part"] == "CHEST"
    assert rad.metadata["sex"] == "M" and rad.metadata["age"] == "62"
    assert rad.metadata["study_date"] == "1901-01-01"
    assert rad.metadata["size"] == "1024 × 1024"


def test_fake_monochrome1_twin_is_the_mirror_of_its_original(data_dir: Path) -> None:
    """torchxrayvision's Fake_MONOHR1 has the SAME stored pixels relabelled MONOCHROME1.

    So, read correctly, it is the negative of the original: pixels mirror over 0..255, the
    default window mirrors with them, and the displayed films are exact negatives.
    """
    original = load_radiograph(next((data_dir / "dicom").glob("siim-acr_1.*.dcm")))
    fake = load_radiograph(data_dir / "dicom" / "siim-acr_Fake_MONOHR1.dcm")
    assert original.photometric == "MONOCHROME2" and fake.photometric == "MONOCHROME1"
    np.testing.assert_array_equal(fake.pixels, 255.0 - original.pixels)
    assert fake.default_window.width == original.default_window.width
    assert fake.default_window.center == 255.0 - original.default_window.center
    shown_original = apply_window(original.pixels, original.default_window).astype(int)
    shown_fake = apply_window(fake.pixels, fake.default_window).astype(int)
    assert np.abs(shown_fake - (255 - shown_original)).max() <= 1  # rounding only


def test_every_sample_original_matches_its_catalogue_entry(data_dir: Path) -> None:
    rows = _rows(data_dir / "samples" / "samples.csv")
    # The README counts 13 files in samples/: 12 films plus samples.csv itself.
    films = sorted(p.name for p in (data_dir / "samples").iterdir() if p.suffix != ".csv")
    assert sorted(row["file"] for row in rows) == films and len(films) == 12
    for row in rows:
        rad = load_radiograph(data_dir / "samples" / row["file"])
        assert rad.kind == "image"
        assert rad.shape == (int(row["height"]), int(row["width"]))
        assert rad.bits_stored == 8
        assert rad.metadata["format"] == row["format"]
        assert rad.metadata["mode"] == row["mode"]
        assert rad.photometric == ("RGB" if row["mode"] == "RGB" else "MONOCHROME2")
        if row["mode"] == "L":
            assert not rad.was_color and rad.colorfulness is None
        else:  # RGB originals: a colourfulness figure is always recorded for the gate
            score = rad.colorfulness
            assert rad.was_color == (score > 0.02)
            assert bool(rad.warnings) == rad.was_color
        assert 0.0 <= rad.pixels.min() < rad.pixels.max() <= 255.0


def test_gray_films_saved_as_rgb_are_not_colour(data_dir: Path) -> None:
    """Three of the four RGB originals are gray films in RGB clothing; one is a tinted figure."""
    samples = data_dir / "samples"
    gray_as_rgb = [
        "bacterial_pneumonia__ieee8023__pneumococcal-pneumonia-day0.jpg",
        "covid19__ieee8023__296_2020_4584_Fig2_HTML-a.png",
        "covid19__actualmed__CR.1.2.840.113564.1722810170.20200325010134750210.1003000225002.png",
    ]
    for name in gray_as_rgb:
        rad = load_radiograph(samples / name)
        assert not rad.was_color, name
        assert rad.colorfulness < 0.005
    tinted = load_radiograph(samples / "covid19__ieee8023__gr1_lrg-a.jpg")
    assert tinted.was_color and 0.02 < tinted.colorfulness < 0.2


def test_real_dicom_tag_list(data_dir: Path) -> None:
    rows = read_dicom_tags(data_dir / "dicom" / "siim-acr_Fake_MONOHR1.dcm")
    by_tag = {tag: (keyword, vr, value) for tag, keyword, vr, value in rows}
    assert by_tag["(0028,0004)"] == ("PhotometricInterpretation", "CS", "MONOCHROME1")
    assert by_tag["(0002,0010)"][0] == "TransferSyntaxUID"
    assert by_tag["(0028,0030)"] == ("PixelSpacing", "DS", "0.168\\0.168")
    assert "(7FE0,0010)" not in by_tag  # pixel data is not read for the tag list

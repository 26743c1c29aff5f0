"""Generated DICOM files through the whole display pipeline: syntaxes, photometrics, LUTs, windows."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import (
    SYNTAXES,
    TRUE_12BIT_JPEG,
    encode,
    gradient_image,
    lut_item,
    make_dataset,
    with_sequence,
    write_dicom,
)
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space, get_decoder
from pydicom.uid import JPEGExtended12Bit

from radiview.errors import MissingDecoderError, UnsupportedImageError
from radiview.io import apply_luminance, apply_window, load_radiograph, read_dicom, read_dicom_tags
from radiview.io import dicom as dicom_module
from radiview.io.radiograph import Window

#: The plugin each syntax must decode with: all MIT/BSD, never pylibjpeg-libjpeg (GPL).
EXPECTED_DECODER = {
    "explicit": "pydicom",
    "implicit": "pydicom",
    "deflate": "pydicom",
    "rle": "pylibjpeg",  # pylibjpeg-rle
    "jpegls": "pyjpegls",
    "j2k": "pylibjpeg",  # pylibjpeg-openjpeg
    "jpeg_lossless": "gdcm",
    "jpeg_baseline": "gdcm",
}
LOSSLESS = [name for name in SYNTAXES if name not in ("jpeg_baseline", "jpeg_extended")]


def _save(tmp_path: Path, ds, name: str = "film.dcm", syntax: str = "explicit") -> Path:
    return write_dicom(tmp_path / name, encode(ds, syntax))


@pytest.mark.parametrize("syntax", LOSSLESS)
@pytest.mark.parametrize("signed", [False, True], ids=["unsigned", "signed"])
def test_lossless_syntaxes_round_trip_exactly(tmp_path: Path, syntax: str, signed: bool) -> None:
    stored = gradient_image(rows=40, columns=56, bits=12, signed=signed)
    rad = load_radiograph(_save(tmp_path, make_dataset(stored, bits_stored=12), syntax=syntax))
    np.testing.assert_array_equal(rad.pixels, stored.astype(np.float32))
    assert rad.pixels.dtype == np.float32 and not rad.pixels.flags.writeable
    assert rad.bits_stored == 12
    assert rad.metadata["transfer_syntax"] == SYNTAXES[syntax].name
    assert rad.metadata["decoder"] == EXPECTED_DECODER[syntax]


def test_jpeg_baseline_decodes_close_to_the_original(tmp_path: Path) -> None:
    stored = gradient_image(rows=64, columns=64, bits=8)
    rad = load_radiograph(_save(tmp_path, make_dataset(stored), syntax="jpeg_baseline"))
    assert rad.metadata["decoder"] == EXPECTED_DECODER["jpeg_baseline"]
    assert np.abs(rad.pixels - stored).mean() < 3.0  # lossy, quality 95


def test_eight_bit_syntaxes_round_trip(tmp_path: Path) -> None:
    stored = gradient_image(rows=41, columns=38, bits=8)  # odd rows; GDCM's encoder needs even pixel counts
    for syntax in LOSSLESS:
        rad = load_radiograph(_save(tmp_path, make_dataset(stored), f"{syntax}.dcm", syntax))
        np.testing.assert_array_equal(rad.pixels, stored, err_msg=syntax)
        assert rad.bits_stored == 8


@pytest.mark.parametrize("implicit", [True, False], ids=["implicit", "explicit"])
def test_preamble_less_dicom_opens_by_content(tmp_path: Path, implicit: bool) -> None:
    stored = gradient_image(bits=12)
    ds = encode(make_dataset(stored, bits_stored=12), "implicit" if implicit else "explicit")
    path = write_dicom(tmp_path / "IM000001", ds, preamble=False)  # no extension, no preamble
    assert path.read_bytes()[:2] == b"\x08\x00"
    rad = load_radiograph(path)
    np.testing.assert_array_equal(rad.pixels, stored)


def test_dicom_named_png_opens_as_dicom(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    path = _save(tmp_path, make_dataset(stored, bits_stored=12), name="mislabelled.png")
    assert load_radiograph(path).kind == "dicom"


# --------------------------------------------------------------------------- MONOCHROME1


def _twin_pair(tmp_path: Path, syntax: str, tags2: dict, tags1: dict) -> tuple:
    """A MONOCHROME2 film and its true MONOCHROME1 twin (stored values inverted)."""
    stored = gradient_image(rows=48, columns=40, bits=12)
    twin = (4095 - stored).astype(np.uint16)
    m2 = make_dataset(stored, "MONOCHROME2", bits_stored=12, tags=tags2)
    m1 = make_dataset(twin, "MONOCHROME1", bits_stored=12, tags=tags1)
    a = load_radiograph(_save(tmp_path, m2, "m2.dcm", syntax))
    b = load_radiograph(_save(tmp_path, m1, "m1.dcm", syntax))
    return stored, a, b


@pytest.mark.parametrize("syntax", ["explicit", "rle", "jpeg_lossless"])
def test_monochrome1_twin_gives_identical_pixels_and_display(tmp_path: Path, syntax: str) -> None:
    # A LINEAR window c maps to c' = max + 1 - c on the inverted twin (PS3.3 C.11.2.1.2.1).
    stored, m2, m1 = _twin_pair(
        tmp_path,
        syntax,
        {"WindowCenter": 1500, "WindowWidth": 2000},
        {"WindowCenter": 4095 + 1 - 1500, "WindowWidth": 2000},
    )
    np.testing.assert_array_equal(m1.pixels, m2.pixels)
    np.testing.assert_array_equal(m2.pixels, stored)
    assert m1.default_window == m2.default_window == Window(1499.5, 1999.0)
    np.testing.assert_array_equal(
        apply_window(m1.pixels, m1.default_window), apply_window(m2.pixels, m2.default_window)
    )
    assert m1.photometric == "MONOCHROME1" and m2.photometric == "MONOCHROME2"


def test_monochrome1_twin_without_window_tags_matches_too(tmp_path: Path) -> None:
    _, m2, m1 = _twin_pair(tmp_path, "explicit", {}, {})
    np.testing.assert_array_equal(m1.pixels, m2.pixels)
    assert m1.default_window == m2.default_window  # percentiles of identical pixels


def test_monochrome1_with_rescale_mirrors_over_the_rescaled_range(tmp_path: Path) -> None:
    tags = {"RescaleSlope": 2, "RescaleIntercept": -100}
    stored, m2, m1 = _twin_pair(tmp_path, "explicit", tags, tags)
    np.testing.assert_array_equal(m2.pixels, stored * 2.0 - 100)
    np.testing.assert_array_equal(m1.pixels, m2.pixels)


def test_presentation_lut_shape_inverse_inverts(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    plain = load_radiograph(_save(tmp_path, make_dataset(stored, bits_stored=12), "plain.dcm"))
    inverse = make_dataset(stored, bits_stored=12, tags={"PresentationLUTShape": "INVERSE"})
    inv = load_radiograph(_save(tmp_path, inverse, "inverse.dcm"))
    np.testing.assert_array_equal(inv.pixels, 4095 - plain.pixels)
    # MONOCHROME1 + INVERSE is the standard's consistent pairing: one inversion, not two.
    both = make_dataset(stored, "MONOCHROME1", bits_stored=12, tags={"PresentationLUTShape": "INVERSE"})
    np.testing.assert_array_equal(load_radiograph(_save(tmp_path, both, "both.dcm")).pixels, inv.pixels)


# --------------------------------------------------------------------------- modality LUT


def test_rescale_slope_and_intercept(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    ds = make_dataset(stored, bits_stored=12, tags={"RescaleSlope": "0.5", "RescaleIntercept": "-1024"})
    rad = load_radiograph(_save(tmp_path, ds))
    np.testing.assert_allclose(rad.pixels, stored * 0.5 - 1024, rtol=0, atol=1e-4)
    assert rad.metadata["rescale"] == "slope 0.5, intercept -1024"


def test_negative_slope_restores_the_usual_orientation(tmp_path: Path) -> None:
    """OHIF#127: a CR with slope -1 renders inverted unless the modality LUT is applied."""
    stored = gradient_image(bits=12)
    flipped = make_dataset(
        (4095 - stored).astype(np.uint16), bits_stored=12, tags={"RescaleSlope": -1, "RescaleIntercept": 4095}
    )
    rad = load_radiograph(_save(tmp_path, flipped))
    np.testing.assert_array_equal(rad.pixels, stored)


def test_modality_lut_sequence(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    lut = (np.arange(4096) // 4 + 100).astype(np.uint16)  # 12 → 10 bit plus an offset
    ds = with_sequence(make_dataset(stored, bits_stored=12), "ModalityLUTSequence", lut_item(lut, 0))
    rad = load_radiograph(_save(tmp_path, ds))
    np.testing.assert_array_equal(rad.pixels, lut[stored])


def test_signed_data_with_signed_first_mapped_lut(tmp_path: Path) -> None:
    stored = gradient_image(bits=12, signed=True)  # -2048 .. 2047
    lut = np.arange(4096, dtype=np.uint16)  # identity shifted by 2048
    item = lut_item(lut, 65536 - 2048)  # -2048 written as US (the ambiguous US/SS case)
    ds = with_sequence(make_dataset(stored, bits_stored=12), "ModalityLUTSequence", item)
    rad = load_radiograph(_save(tmp_path, ds))
    np.testing.assert_array_equal(rad.pixels, stored.astype(np.float32) + 2048)


# --------------------------------------------------------------------------- VOI


def test_voi_lut_sequence_is_applied_and_wins_over_window_tags(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    lut = np.rint(np.sqrt(np.arange(4096) / 4095.0) * 1023).astype(np.uint16)  # 10-bit output
    ds = make_dataset(stored, bits_stored=12, tags={"WindowCenter": 2000, "WindowWidth": 100})
    rad = load_radiograph(_save(tmp_path, with_sequence(ds, "VOILUTSequence", lut_item(lut, 0, bits=10))))
    np.testing.assert_array_equal(rad.pixels, lut[stored])
    assert rad.default_window == Window.from_bounds(0.0, 1023.0)
    assert "VOI LUT" in rad.metadata["voi"]


def test_voi_lut_with_monochrome1_mirrors_over_the_lut_output(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    lut = np.linspace(50, 950, 4096).round().astype(np.uint16)
    ds = with_sequence(
        make_dataset(stored, "MONOCHROME1", bits_stored=12), "VOILUTSequence", lut_item(lut, 0)
    )
    rad = load_radiograph(_save(tmp_path, ds))
    np.testing.assert_array_equal(rad.pixels, 1000.0 - lut[stored])
    assert rad.default_window == Window.from_bounds(50.0, 950.0)


@pytest.mark.parametrize(
    ("function", "expected"),
    [(None, Window(1199.5, 399.0)), ("LINEAR_EXACT", Window(1200, 400)), ("SIGMOID", Window(1200, 400))],
)
def test_first_of_several_windows_becomes_the_default(
    tmp_path: Path, function: str | None, expected: Window
) -> None:
    tags = {"WindowCenter": [1200, 2000], "WindowWidth": [400, 3000]}
    if function:
        tags["VOILUTFunction"] = function
    rad = load_radiograph(_save(tmp_path, make_dataset(gradient_image(bits=12), bits_stored=12, tags=tags)))
    assert rad.default_window == expected
    assert rad.metadata["window"].startswith("C 1200 / W 400")


def test_invalid_window_falls_back_to_percentiles_with_a_warning(tmp_path: Path) -> None:
    tags = {"WindowCenter": 100, "WindowWidth": 0}
    rad = load_radiograph(_save(tmp_path, make_dataset(gradient_image(bits=12), bits_stored=12, tags=tags)))
    assert any("Window" in w for w in rad.warnings)
    assert 0 < rad.default_window.lower < rad.default_window.upper < 4095


# --------------------------------------------------------------------------- bits


def test_bits_stored_12_in_16_masks_garbage_high_bits(tmp_path: Path) -> None:
    stored = gradient_image(bits=12)
    raw = (stored | np.uint16(0xA000)).astype(np.uint16)  # overlay junk above bit 11
    rad = load_radiograph(_save(tmp_path, make_dataset(raw, bits_stored=12)))
    np.testing.assert_array_equal(rad.pixels, stored)
    assert rad.bits_stored == 12


def test_signed_12_in_16_is_sign_extended(tmp_path: Path) -> None:
    stored = gradient_image(bits=12, signed=True)
    raw = (stored.astype(np.int32) & 0x0FFF).astype(np.uint16).view(np.int16)  # high bits zero
    rad = load_radiograph(_save(tmp_path, make_dataset(raw, bits_stored=12)))
    assert rad.pixels.min() == -2048
    np.testing.assert_array_equal(rad.pixels, stored)


# --------------------------------------------------------------------------- frames and colour


@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_multi_frame_shows_the_first_frame_with_a_warning(tmp_path: Path, syntax: str, caplog) -> None:
    frames = np.stack([gradient_image(bits=12, seed=s) for s in range(3)])
    ds = make_dataset(frames, bits_stored=12)
    with caplog.at_level(logging.WARNING, logger="radiview"):
        rad = load_radiograph(_save(tmp_path, ds, "multi.dcm", syntax))
    np.testing.assert_array_equal(rad.pixels, frames[0])
    assert rad.warnings == ("multi-frame image (3 frames): showing the first frame only",)
    assert rad.metadata["frames"] == "3"
    # logs carry the file's base name and technical facts, never patient data
    assert "multi.dcm" in caplog.text and "Test" not in caplog.text and "RV-TEST" not in caplog.text


def _rgb_image(rows: int = 40, columns: int = 48) -> np.ndarray:
    y, x = np.mgrid[0:rows, 0:columns]
    return np.stack([x * 5 % 256, y * 6 % 256, (x + y) * 3 % 256], axis=-1).astype(np.uint8)


def test_rgb_dicom_becomes_luminance_with_a_warning(tmp_path: Path) -> None:
    rgb = _rgb_image()
    rad = load_radiograph(_save(tmp_path, make_dataset(rgb, "RGB")))
    np.testing.assert_allclose(rad.pixels, apply_luminance(rgb), atol=1e-3)
    assert rad.was_color and rad.photometric == "RGB"
    assert rad.colorfulness > 0.1
    assert rad.warnings == ("colour image (RGB) converted to grayscale (luminance)",)


def test_gray_content_in_rgb_dicom_is_not_colour(tmp_path: Path) -> None:
    gray = gradient_image(bits=8)
    rad = load_radiograph(_save(tmp_path, make_dataset(np.stack([gray] * 3, axis=-1), "RGB")))
    np.testing.assert_allclose(rad.pixels, gray, atol=1e-3)
    assert not rad.was_color and rad.warnings == ()


@pytest.mark.parametrize("syntax", ["explicit", "rle"])
def test_ybr_full_is_converted_to_rgb_first(tmp_path: Path, syntax: str) -> None:
    rgb = _rgb_image()
    ybr = convert_color_space(rgb, "RGB", "YBR_FULL")
    rad = load_radiograph(_save(tmp_path, make_dataset(ybr, "YBR_FULL"), syntax=syntax))
    assert rad.was_color
    assert np.abs(rad.pixels - apply_luminance(rgb)).max() <= 1.5  # YBR round-trip rounding


def test_jpeg_baseline_colour(tmp_path: Path) -> None:
    rgb = _rgb_image(64, 64)
    rad = load_radiograph(_save(tmp_path, make_dataset(rgb, "RGB"), syntax="jpeg_baseline"))
    assert rad.was_color and rad.photometric == "YBR_FULL_422"
    assert np.abs(rad.pixels - apply_luminance(rgb)).mean() < 6


def _palette_dataset(red: np.ndarray, green: np.ndarray, blue: np.ndarray):
    index = gradient_image(bits=8)
    ds = make_dataset(index, "PALETTE COLOR")
    for name, table in (("Red", red), ("Green", green), ("Blue", blue)):
        setattr(ds, f"{name}PaletteColorLookupTableDescriptor", [256, 0, 16])
        setattr(ds, f"{name}PaletteColorLookupTableData", table.astype("<u2").tobytes())
        ds[f"{name}PaletteColorLookupTableData"].VR = "OW"
    return index, ds


def test_palette_colour_gray_palette_is_not_colour(tmp_path: Path) -> None:
    ramp = np.arange(256, dtype=np.uint16) * 257  # 16-bit gray ramp
    index, ds = _palette_dataset(ramp, ramp, ramp)
    rad = load_radiograph(_save(tmp_path, ds))
    assert not rad.was_color and rad.bits_stored == 16
    np.testing.assert_allclose(rad.pixels, index * 257.0, rtol=1e-5)


def test_palette_colour_hot_palette_is_colour(tmp_path: Path) -> None:
    ramp = np.arange(256, dtype=np.uint16) * 257
    _, ds = _palette_dataset(ramp, ramp[::-1].copy(), np.zeros(256, np.uint16))
    rad = load_radiograph(_save(tmp_path, ds))
    assert rad.was_color and rad.photometric == "PALETTE COLOR"


def test_two_samples_per_pixel_is_unsupported(tmp_path: Path) -> None:
    ds = make_dataset(gradient_image(bits=8))
    ds.SamplesPerPixel = 2
    with pytest.raises(UnsupportedImageError, match="2 samples per pixel"):
        load_radiograph(_save(tmp_path, ds))


# --------------------------------------------------------------------------- decoders, metadata, tags


def test_unknown_transfer_syntax_is_a_missing_decoder(tmp_path: Path) -> None:
    ds = make_dataset(gradient_image(bits=8))
    ds.PixelData = encapsulate([ds.PixelData])
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG-2 video
    path = write_dicom(tmp_path / "mpeg.dcm", ds)
    with pytest.raises(MissingDecoderError, match="not supported") as info:
        load_radiograph(path)
    assert info.value.path == str(path)


def test_missing_plugin_names_the_package_to_install(tmp_path: Path, monkeypatch) -> None:
    """As on a machine without python-gdcm: the only JPEG Lossless decoder is absent."""
    path = _save(tmp_path, make_dataset(gradient_image(bits=12), bits_stored=12), syntax="jpeg_lossless")
    monkeypatch.setitem(dicom_module.DECODER_PREFERENCE, "1.2.840.10008.1.2.4.70", ("not-installed",))
    with pytest.raises(MissingDecoderError, match="install python-gdcm") as info:
        read_dicom(path)
    assert info.value.package == "python-gdcm"
    assert str(info.value).startswith(str(path))


def test_gdcm_written_16bit_lossy_jpeg_decodes_with_gdcm(tmp_path: Path) -> None:
    """GDCM's encoder writes 12-in-16-bit films as lossy JPEG with 16-bit samples, which no
    conforming decoder (pylibjpeg-libjpeg included) accepts: GDCM itself reads them back."""
    stored = gradient_image(bits=12)
    path = _save(tmp_path, make_dataset(stored, bits_stored=12), syntax="jpeg_extended")
    rad = load_radiograph(path)
    assert rad.metadata["decoder"] == "gdcm"
    assert np.abs(rad.pixels - stored).mean() < 1.0  # lossy, but close


def test_true_12bit_jpeg_without_libjpeg_names_the_gpl_decoder(monkeypatch) -> None:
    """A true 12-bit JPEG Extended stream needs pylibjpeg-libjpeg (GPLv3, not bundled): the
    error names it. (The plugin is hidden so that the check holds where it is installed too;
    tests/io/test_libjpeg.py installs it and checks that the film then decodes.)"""
    decoder = get_decoder(JPEGExtended12Bit)
    monkeypatch.delitem(decoder._available, "pylibjpeg", raising=False)
    with pytest.raises(MissingDecoderError, match="install pylibjpeg-libjpeg") as info:
        load_radiograph(TRUE_12BIT_JPEG)
    assert info.value.package == "pylibjpeg-libjpeg" and "GPLv3" in str(info.value)


def test_display_metadata(tmp_path: Path) -> None:
    ds = make_dataset(gradient_image(bits=12), bits_stored=12, tags={"ImagerPixelSpacing": [0.139, 0.14]})
    rad = load_radiograph(_save(tmp_path, ds))
    md = rad.metadata
    assert md["patient_name"] == "Test Patient" and md["patient_id"] == "RV-TEST-1"
    assert (md["sex"], md["age"], md["study_date"]) == ("F", "054Y", "2024-01-31")
    assert (md["modality"], md["body_part"], md["view_position"]) == ("DX", "CHEST", "PA")
    assert md["size"] == "48 × 64" and md["bits"] == "12 stored / 16 allocated"
    assert rad.pixel_spacing_mm == (0.139, 0.14) and md["pixel_spacing"] == "0.139 × 0.14 mm"
    assert rad.view_position == "PA"


def test_tag_list_nests_sequences_and_truncates(tmp_path: Path) -> None:
    ds = with_sequence(
        make_dataset(gradient_image(bits=12), bits_stored=12), "VOILUTSequence", lut_item(np.arange(4096), 0)
    )
    ds.ImageComments = "x" * 500
    rows = read_dicom_tags(_save(tmp_path, ds), max_chars=50)
    by_tag = {tag: (kw, vr, value) for tag, kw, vr, value in rows}
    assert by_tag["(0028,3010)"] == ("VOILUTSequence", "SQ", "<1 item>")
    assert by_tag[">(0028,3002)"] == ("LUTDescriptor", "US", "4096\\0\\16")
    assert len(by_tag["(0020,4000)"][2]) == 50 and by_tag["(0020,4000)"][2].endswith("…")
    assert by_tag["(0010,0010)"][2] == "Test^Patient"

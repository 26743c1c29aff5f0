"""PNG / JPEG / TIFF / BMP: full bit depth, colour detection, EXIF orientation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_factory import gradient_image, write_png16
from PIL import Image

from radiview.io import apply_luminance, colorfulness, load_radiograph, read_image


def test_16bit_png_round_trips_every_value(tmp_path: Path) -> None:
    values = np.arange(0, 65536, 13, dtype=np.uint16)[: 64 * 78].reshape(64, 78)
    values[0, 0], values[-1, -1] = 0, 65535
    rad = load_radiograph(write_png16(tmp_path / "film16.png", values))
    np.testing.assert_array_equal(rad.pixels, values.astype(np.float32))
    assert rad.bits_stored == 16 and rad.metadata["mode"] == "I;16"
    assert not rad.was_color and rad.warnings == ()
    assert rad.default_window.upper > 60000  # window spans the 16-bit values, not 0..255


@pytest.mark.parametrize("fmt", ["TIFF"])
def test_16bit_tiff_both_byte_orders(tmp_path: Path, fmt: str) -> None:
    values = gradient_image(bits=16)
    Image.fromarray(values).save(tmp_path / "le.tif")
    Image.fromarray(values.astype(">u2")).save(tmp_path / "be.tif")  # I;16B
    for name in ("le.tif", "be.tif"):
        rad = load_radiograph(tmp_path / name)
        np.testing.assert_array_equal(rad.pixels, values)
        assert rad.bits_stored == 16


def test_8bit_formats(tmp_path: Path) -> None:
    values = gradient_image(bits=8)
    for name in ("a.png", "a.bmp", "a.tif"):
        Image.fromarray(values).save(tmp_path / name)
        rad = load_radiograph(tmp_path / name)
        np.testing.assert_array_equal(rad.pixels, values)
        assert rad.bits_stored == 8 and rad.kind == "image"
    Image.fromarray(values).save(tmp_path / "a.jpg", quality=95)
    assert np.abs(load_radiograph(tmp_path / "a.jpg").pixels - values).mean() < 3


def test_float_tiff(tmp_path: Path) -> None:
    values = gradient_image(bits=12).astype(np.float32) / 7.0
    Image.fromarray(values, mode="F").save(tmp_path / "f.tif")
    rad = load_radiograph(tmp_path / "f.tif")
    np.testing.assert_array_equal(rad.pixels, values)
    assert rad.bits_stored == 32


def test_jpeg_named_png_is_read_by_content(tmp_path: Path) -> None:
    Image.fromarray(gradient_image(bits=8)).save(tmp_path / "film.png", format="JPEG")
    assert load_radiograph(tmp_path / "film.png").metadata["format"] == "JPEG"


def test_gray_film_saved_as_rgb_is_not_colour(tmp_path: Path) -> None:
    gray = gradient_image(bits=8)
    Image.fromarray(np.stack([gray] * 3, axis=-1)).save(tmp_path / "rgb.png")
    rad = read_image(tmp_path / "rgb.png")
    np.testing.assert_allclose(rad.pixels, gray, atol=1e-3)
    assert not rad.was_color and rad.warnings == ()
    assert rad.photometric == "RGB" and rad.colorfulness == 0.0


def test_colour_photo_is_flagged(tmp_path: Path) -> None:
    y, x = np.mgrid[0:60, 0:80]
    rgb = np.stack([x * 3, y * 4, 255 - x * 3], axis=-1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    rad = read_image(tmp_path / "photo.png")
    assert rad.was_color and rad.warnings == ("colour image (RGB) converted to grayscale (luminance)",)
    assert rad.colorfulness == pytest.approx(colorfulness(rgb), abs=1e-4)
    np.testing.assert_allclose(rad.pixels, apply_luminance(rgb), atol=1e-3)


def test_colorfulness_scale() -> None:
    gray = np.repeat(gradient_image(bits=8)[..., None], 3, axis=-1)
    assert colorfulness(gray) == 0.0
    red = np.zeros((10, 10, 3), np.uint8)
    red[..., 0] = 255
    assert colorfulness(red) == pytest.approx(0.3 * np.hypot(1.0, 0.5), rel=1e-6)  # [0, 1] scale
    assert colorfulness(red.astype(np.uint16) * 257) == pytest.approx(colorfulness(red), rel=1e-6)


def test_rgba_and_la_alpha_is_reported(tmp_path: Path) -> None:
    gray = gradient_image(bits=8)
    alpha = np.full_like(gray, 255)
    alpha[:5] = 0
    Image.fromarray(np.stack([gray, alpha], axis=-1), mode="LA").save(tmp_path / "la.png")
    rad = read_image(tmp_path / "la.png")
    np.testing.assert_array_equal(rad.pixels, gray)
    assert rad.warnings == ("transparency (alpha channel) ignored",) and not rad.was_color


def test_palette_png_with_gray_palette(tmp_path: Path) -> None:
    gray = gradient_image(bits=8)
    Image.fromarray(gray).convert("P").save(tmp_path / "p.png")  # Pillow's web palette
    rad = read_image(tmp_path / "p.png")
    assert rad.metadata["mode"] == "P" and rad.colorfulness is not None


def test_bilevel_image(tmp_path: Path) -> None:
    Image.fromarray(gradient_image(bits=8) > 128).save(tmp_path / "b.png")
    rad = read_image(tmp_path / "b.png")
    assert set(np.unique(rad.pixels)) <= {0.0, 255.0}


def test_exif_orientation_is_applied(tmp_path: Path) -> None:
    values = gradient_image(rows=30, columns=50, bits=8)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    Image.fromarray(values).save(tmp_path / "rot.jpg", exif=exif, quality=100)
    rad = read_image(tmp_path / "rot.jpg")
    assert rad.shape == (50, 30)
    expected = np.rot90(values, k=-1)
    assert np.abs(rad.pixels - expected).mean() < 2


def test_multi_page_tiff_shows_the_first_page_with_a_warning(tmp_path: Path) -> None:
    pages = [Image.fromarray(gradient_image(bits=8, seed=s)) for s in range(3)]
    pages[0].save(tmp_path / "stack.tif", save_all=True, append_images=pages[1:])
    rad = read_image(tmp_path / "stack.tif")
    np.testing.assert_array_equal(rad.pixels, gradient_image(bits=8, seed=0))
    assert rad.warnings == ("multi-page TIFF (3 pages): showing the first page only",)

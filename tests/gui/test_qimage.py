"""numpy ↔ QImage conversion keeps every pixel, whatever the row padding."""

from __future__ import annotations

import numpy as np
import pytest

from radiview.gui.qimage import gray_to_qimage, qimage_to_array, rgba_to_qimage


@pytest.mark.parametrize("width", [1, 3, 7, 64])
def test_gray_round_trip_with_odd_widths(qapp, width: int) -> None:  # type: ignore[no-untyped-def]
    gray = np.random.default_rng(width).integers(0, 256, (5, width), dtype=np.uint8)
    image = gray_to_qimage(gray)
    np.testing.assert_array_equal(qimage_to_array(image), gray)


def test_image_is_independent_of_the_array(qapp) -> None:  # type: ignore[no-untyped-def]
    gray = np.full((4, 5), 7, dtype=np.uint8)
    image = gray_to_qimage(gray)
    gray[:] = 200
    assert qimage_to_array(image).max() == 7


@pytest.mark.parametrize("channels", [3, 4])
def test_colour_round_trip(qapp, channels: int) -> None:  # type: ignore[no-untyped-def]
    rgb = np.random.default_rng(channels).integers(0, 256, (6, 9, channels), dtype=np.uint8)
    if channels == 4:
        rgb[:, :, 3] = 255  # premultiplication would alter translucent pixels
    back = qimage_to_array(rgba_to_qimage(rgb))
    np.testing.assert_array_equal(back[:, :, :3], rgb[:, :, :3])
    assert (back[:, :, 3] == 255).all()


def test_bad_shapes_raise(qapp) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        gray_to_qimage(np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(ValueError):
        rgba_to_qimage(np.zeros((2, 2), np.uint8))

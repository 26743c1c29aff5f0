"""THE JPEG marker walker, which both the image size guard and the DICOM decoder use."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from radiview.io.image import read_image_size
from radiview.io.jpeg_markers import JpegHeaderError, jpeg_header_problem, read_jpeg_frame_header


def _jpeg(width: int = 40, height: int = 30, exif: bool = False) -> bytes:
    buf = io.BytesIO()
    image = Image.fromarray(np.arange(width * height, dtype=np.uint8).reshape(height, width))
    extra = {"exif": Image.Exif()} if exif else {}
    image.save(buf, format="JPEG", quality=90, **extra)
    return buf.getvalue()


def test_frame_header_of_a_baseline_jpeg() -> None:
    header = read_jpeg_frame_header(_jpeg(40, 30))
    assert (header.marker, header.precision, header.width, header.height) == (0xC0, 8, 40, 30)
    assert header.components == 1 and not header.lossless


def test_the_image_size_guard_walks_the_same_headers(tmp_path: Path) -> None:
    path = tmp_path / "film.jpg"
    path.write_bytes(_jpeg(52, 17, exif=True))
    assert read_image_size(path) == (52, 17)
    path.write_bytes(_jpeg(52, 17)[:40])  # cut inside the quantisation table
    assert read_image_size(path) is None


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        (lambda b: b"\x00\x00" + b[2:], "no start-of-image marker"),
        (lambda b: b[:2] + b"\x12" + b[3:], "bad marker at byte 2"),
        (lambda b: b[:10], "bad segment length at byte 2"),
        (lambda b: b[:2] + b"\xff\xd9", "image ends before any scan"),
        (lambda b: b[:2], "truncated before the scan"),
    ],
)
def test_damaged_headers_name_the_problem(damage, problem: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(JpegHeaderError, match=problem):
        read_jpeg_frame_header(damage(_jpeg()))
    assert jpeg_header_problem(damage(_jpeg()), 30, 40) == problem


def test_size_mismatch_with_the_dicom_header() -> None:
    assert jpeg_header_problem(_jpeg(40, 30), 30, 40) is None
    assert jpeg_header_problem(_jpeg(40, 30), 31, 40) == "frame header says 40 × 30, DICOM header 40 × 31"


def test_a_scan_before_any_frame_header_is_refused() -> None:
    sos_only = b"\xff\xd8" + b"\xff\xda\x00\x08" + bytes(6) + b"\xff\xd9"
    with pytest.raises(JpegHeaderError, match="scan before frame header"):
        read_jpeg_frame_header(sos_only)

"""Issue 21: a broken DICOM is named in plain words, never in pydicom's raw text.

A truncated uncompressed file used to read "pixel data cannot be decoded (…): ValueError: The
number of bytes of pixel data is less than expected (…)", and a header without pixel data was
called "truncated".
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pydicom
import pytest

from radiview.errors import CorruptFileError, MissingPixelDataError
from radiview.io import load_radiograph
from tests.io.dicom_factory import make_dataset, write_dicom


def _film(tmp_path: Path, rows: int = 1000, columns: int = 800) -> Path:
    pixels = (np.arange(rows * columns, dtype=np.uint16).reshape(rows, columns) * 7) % 4096
    return write_dicom(tmp_path / "film.dcm", make_dataset(pixels, bits_stored=12))


def test_a_cut_off_file_says_how_much_of_it_arrived(tmp_path: Path) -> None:
    full = _film(tmp_path)
    data = full.read_bytes()
    cut = tmp_path / "cut.dcm"
    cut.write_bytes(data[: int(len(data) * 0.34)])
    with pytest.raises(CorruptFileError) as caught:
        load_radiograph(cut)
    message = str(caught.value)
    match = re.search(r"file incomplete: ([\d.]+) of ([\d.]+) MB", message)
    assert match, message
    assert float(match.group(1)) == pytest.approx(len(data) * 0.34 / 1e6, abs=0.06)
    assert float(match.group(2)) == pytest.approx(len(data) / 1e6, abs=0.06)
    assert "ValueError" not in message and "less than expected" not in message
    assert message.startswith(str(cut))  # the file is named


def test_a_header_without_pixel_data_is_not_called_truncated(tmp_path: Path) -> None:
    full = _film(tmp_path, 64, 64)
    ds = pydicom.dcmread(full)
    del ds.PixelData
    header_only = tmp_path / "header_only.dcm"
    ds.save_as(header_only)
    with pytest.raises(MissingPixelDataError) as caught:
        load_radiograph(header_only)
    message = str(caught.value)
    assert "DICOM without pixel data" in message and "truncated" not in message

"""The bad-input corpus: each file gives one specific RadiviewError naming the file."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from dicom_factory import encode, gradient_image, make_dataset, write_dicom, write_png16
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from radiview.errors import (
    CorruptFileError,
    EmptyFileError,
    ImageTooLargeError,
    InputError,
    MissingPixelDataError,
    RadiviewError,
    UnsupportedFormatError,
)
from radiview.io import MAX_PIXELS, load_radiograph, read_dicom, read_dicom_tags, read_image


def _dicom(tmp_path: Path, syntax: str = "explicit") -> Path:
    return write_dicom(
        tmp_path / "ok.dcm", encode(make_dataset(gradient_image(bits=12), bits_stored=12), syntax)
    )


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bad(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def corpus(tmp_path: Path) -> list[tuple[Path, type[RadiviewError], str]]:
    """(file, expected error class, expected text) for every kind of bad input."""
    good_dicom = _dicom(tmp_path).read_bytes()
    png = write_png16(tmp_path / "ok.png", gradient_image(bits=16)).read_bytes()
    no_pixels = Dataset()
    no_pixels.file_meta = FileMetaDataset()
    no_pixels.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    no_pixels.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    no_pixels.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    no_pixels.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"
    no_pixels.Modality = "SR"
    no_pixels.save_as(tmp_path / "report.dcm", enforce_file_format=True)
    huge_dicom = make_dataset(gradient_image(bits=8))
    huge_dicom.Rows, huge_dicom.Columns = 60000, 60000  # 3.6 GP claimed, 3 KB present
    write_dicom(tmp_path / "huge.dcm", huge_dicom)
    huge_png = png[:8] + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 100000, 100000, 8, 0, 0, 0, 0))
    huge_png += _png_chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + _png_chunk(b"IEND", b"")
    return [
        (_bad(tmp_path, "empty.dcm", b""), EmptyFileError, "empty file"),
        (_bad(tmp_path, "truncated.dcm", good_dicom[: len(good_dicom) // 2]), CorruptFileError, ""),
        (_bad(tmp_path, "truncated.png", png[: len(png) // 2]), CorruptFileError, "PNG"),
        (_bad(tmp_path, "random.dcm", np.random.default_rng(0).bytes(4096)), UnsupportedFormatError, "not a"),
        (_bad(tmp_path, "notes.png", b"This is not an image.\n" * 20), UnsupportedFormatError, "not a"),
        (tmp_path / "report.dcm", MissingPixelDataError, "no pixel data (Basic Text SR"),
        (tmp_path / "huge.dcm", ImageTooLargeError, "60000 × 60000"),
        (_bad(tmp_path, "huge.png", huge_png), ImageTooLargeError, "100000 × 100000"),
        (_bad(tmp_path, "header_only.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"), CorruptFileError, "JPEG"),
        (_bad(tmp_path, "preamble_only.dcm", b"\0" * 128 + b"DICM"), CorruptFileError, ""),
        (tmp_path / "does-not-exist.dcm", InputError, "file not found"),
        (tmp_path, InputError, "is a folder"),
    ]


def test_every_bad_input_gives_its_specific_error(tmp_path: Path) -> None:
    for path, expected, text in corpus(tmp_path):
        with pytest.raises(expected) as info:
            load_radiograph(path)
        err = info.value
        assert type(err) is expected, (path.name, type(err), err)
        assert err.path == str(path)
        assert str(err).startswith(f"{path}: ") and text in str(err), str(err)
        assert "Traceback" not in str(err)


def test_truncated_compressed_dicom_of_every_syntax(tmp_path: Path) -> None:
    for syntax in ("rle", "jpegls", "j2k", "jpeg_lossless", "deflate"):
        data = _dicom(tmp_path, syntax).read_bytes()
        for cut in (len(data) // 2, len(data) - 40):
            path = _bad(tmp_path, f"{syntax}_{cut}.dcm", data[:cut])
            with pytest.raises(CorruptFileError):
                load_radiograph(path)


def test_readers_refuse_the_other_format(tmp_path: Path) -> None:
    png = write_png16(tmp_path / "a.png", gradient_image(bits=16))
    with pytest.raises(UnsupportedFormatError, match="not a DICOM file"):
        read_dicom(png)
    with pytest.raises(UnsupportedFormatError, match="not a DICOM file"):
        read_dicom_tags(png)
    with pytest.raises(UnsupportedFormatError, match="not a PNG, JPEG"):
        read_image(_dicom(tmp_path))


def test_pixel_limit_is_documented_and_sane() -> None:
    assert 20_000_000 <= MAX_PIXELS <= 100_000_000  # far above any detector (about 18 MP)


def test_just_over_the_limit_is_refused_before_pillow_warns(tmp_path: Path) -> None:
    """9500² is over MAX_PIXELS but under 2× Pillow's limit, where Pillow only warns."""
    import warnings

    png = write_png16(tmp_path / "ok.png", gradient_image(bits=16)).read_bytes()
    ihdr = _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 9500, 9500, 8, 0, 0, 0, 0))
    path = _bad(tmp_path, "big.png", png[:8] + ihdr + png[33:])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ImageTooLargeError, match="9500 × 9500"):
            load_radiograph(path)
    assert [w for w in caught if "DecompressionBomb" in type(w.message).__name__] == []

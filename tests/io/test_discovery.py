"""Folder discovery: extensions plus content sniffing, hidden files skipped, sorted."""

from __future__ import annotations

from pathlib import Path

import pytest
from dicom_factory import encode, gradient_image, make_dataset, write_dicom
from PIL import Image

from radiview.errors import InputError
from radiview.io import is_candidate_file, iter_image_files, sniff_format


def _tree(root: Path) -> None:
    img = Image.fromarray(gradient_image(bits=8))
    img.save(root / "b.png")
    img.save(root / "A.JPG", format="JPEG")
    img.save(root / ".hidden.png")
    write_dicom(root / "IM0001", encode(make_dataset(gradient_image(bits=12), bits_stored=12), "explicit"))
    bare = encode(make_dataset(gradient_image(bits=8)), "implicit")
    write_dicom(root / "bare_export", bare, preamble=False)
    (root / "notes.txt").write_text("not a film")
    (root / "README").write_bytes(b"\x08\x00 but text after")  # looks like group 0008, is not DICOM
    (root / "sub").mkdir()
    img.save(root / "sub" / "c.tif")
    (root / ".git").mkdir()
    img.save(root / ".git" / "d.png")


def test_flat_listing_finds_extensionless_dicom_and_skips_the_rest(tmp_path: Path) -> None:
    _tree(tmp_path)
    names = [p.name for p in iter_image_files(tmp_path)]
    assert names == ["A.JPG", "IM0001", "b.png", "bare_export"]


def test_recursive_listing_is_sorted_and_skips_hidden_folders(tmp_path: Path) -> None:
    _tree(tmp_path)
    rel = [p.relative_to(tmp_path).as_posix() for p in iter_image_files(tmp_path, recursive=True)]
    assert rel == ["A.JPG", "IM0001", "b.png", "bare_export", "sub/c.tif"]
    assert rel == [p.relative_to(tmp_path).as_posix() for p in iter_image_files(tmp_path, True)]


def test_symlinked_folder_loops_do_not_recurse(tmp_path: Path) -> None:
    _tree(tmp_path)
    (tmp_path / "sub" / "loop").symlink_to(tmp_path, target_is_directory=True)
    assert len(list(iter_image_files(tmp_path, recursive=True))) == 5


def test_not_a_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a folder"):
        list(iter_image_files(tmp_path / "missing"))


def test_sniffing() -> None:
    assert sniff_format(b"\0" * 128 + b"DICM") == "dicom"
    assert sniff_format(b"\x89PNG\r\n\x1a\n" + b"\0" * 10) == "png"
    assert sniff_format(b"\xff\xd8\xff\xe0") == "jpeg"
    assert sniff_format(b"II*\x00\x08\x00\x00\x00") == "tiff"
    assert sniff_format(b"MM\x00*\x00\x00\x00\x08") == "tiff"
    assert sniff_format(b"BM" + b"\0" * 30) == "bmp"
    assert sniff_format(b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100") == "dicom"  # explicit VR, no preamble
    assert sniff_format(b"\x08\x00\x16\x00\x1a\x00\x00\x001.2.840") == "dicom"  # implicit VR
    assert sniff_format(b"\x08\x00\x16\x00\xff\xff\xff\xff") is None  # absurd implicit length
    assert sniff_format(b"\x08\x00\x00\x10CS") is None  # element 0x1000 is not a first tag
    assert sniff_format(b"hello world") is None
    assert not is_candidate_file("/nonexistent/file")

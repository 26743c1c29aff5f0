"""Multi-frame access (one frame or all) and where the pixel spacing came from."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from dicom_factory import gradient_image, make_dataset, write_dicom

from radiview.errors import UnsupportedImageError
from radiview.io import load_radiograph, read_dicom, read_dicom_frames


def _multi_frame(tmp_path: Path, count: int = 4) -> tuple[Path, np.ndarray]:
    frames = np.stack([gradient_image(rows=32, columns=24, bits=12, seed=s) for s in range(count)])
    return write_dicom(tmp_path / "cine.dcm", make_dataset(frames, bits_stored=12)), frames


def test_read_dicom_picks_frame_n_without_the_first_frame_warning(tmp_path: Path) -> None:
    path, frames = _multi_frame(tmp_path)
    third = read_dicom(path, frame=2)
    np.testing.assert_array_equal(third.pixels, frames[2])
    assert third.warnings == () and third.metadata["frame"] == "3" and third.metadata["frames"] == "4"
    # load_radiograph keeps its contract: first frame, with the warning.
    first = load_radiograph(path)
    np.testing.assert_array_equal(first.pixels, frames[0])
    assert "showing the first frame only" in first.warnings[0]


def test_read_dicom_frames_gives_every_frame_in_order(tmp_path: Path) -> None:
    path, frames = _multi_frame(tmp_path, count=5)
    stack = read_dicom_frames(path)
    assert len(stack) == 5
    for index, radiograph in enumerate(stack):
        np.testing.assert_array_equal(radiograph.pixels, frames[index])
        assert radiograph.metadata["frame"] == str(index + 1)


def test_out_of_range_frame_and_too_many_frames_are_clear_errors(tmp_path: Path) -> None:
    path, _ = _multi_frame(tmp_path, count=3)
    with pytest.raises(UnsupportedImageError, match=r"frame 4 asked for, the file has 3") as info:
        read_dicom(path, frame=3)
    assert "cine.dcm" in str(info.value)
    with pytest.raises(Exception, match="3 frames"):
        read_dicom_frames(path, max_frames=2)


def test_single_frame_file_is_a_stack_of_one(tmp_path: Path) -> None:
    path = write_dicom(tmp_path / "one.dcm", make_dataset(gradient_image(rows=16, columns=16, bits=12)))
    assert len(read_dicom_frames(path)) == 1


@pytest.mark.parametrize(
    ("tags", "source", "calibrated"),
    [
        (
            {"PixelSpacing": [0.2, 0.2], "PixelSpacingCalibrationType": "GEOMETRY"},
            "PixelSpacing calibrated",
            True,
        ),
        ({"PixelSpacing": [0.2, 0.2]}, "PixelSpacing", False),
        ({"ImagerPixelSpacing": [0.15, 0.16]}, "ImagerPixelSpacing", False),
        ({}, "", False),
    ],
)
def test_pixel_spacing_source_names_the_tag(
    tmp_path: Path, tags: dict, source: str, calibrated: bool
) -> None:
    ds = make_dataset(gradient_image(rows=16, columns=16, bits=12), tags=tags)
    radiograph = read_dicom(write_dicom(tmp_path / "s.dcm", ds))
    assert radiograph.pixel_spacing_source == source
    assert radiograph.spacing_calibrated is calibrated
    assert (radiograph.pixel_spacing_mm is None) == (source == "")


def test_header_fields_for_the_corner_annotations(tmp_path: Path) -> None:
    tags = {"StudyDescription": "Chest PA", "AccessionNumber": "ACC-9", "PatientOrientation": ["L", "F"]}
    ds = make_dataset(gradient_image(16, 16, 12), tags=tags)
    radiograph = read_dicom(write_dicom(tmp_path / "h.dcm", ds))
    assert radiograph.metadata["study_description"] == "Chest PA"
    assert radiograph.metadata["accession_number"] == "ACC-9"
    assert radiograph.metadata["patient_orientation"] == "L\\F"


@pytest.mark.realdata
def test_siim_spacing_is_uncalibrated_pixel_spacing(data_dir: Path) -> None:
    path = next((data_dir / "dicom").glob("siim-acr_1.*.dcm"))
    radiograph = load_radiograph(path)
    assert radiograph.pixel_spacing_mm == (0.168, 0.168)
    assert radiograph.pixel_spacing_source == "PixelSpacing" and not radiograph.spacing_calibrated

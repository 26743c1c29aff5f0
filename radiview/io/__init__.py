"""Reading chest films: DICOM and common image formats → ``Radiograph``. No torch, no Qt.

``load_radiograph(path)`` is the entry point; it dispatches on the file's content.
"""

from radiview.io.color import COLOR_TOLERANCE, apply_luminance, colorfulness
from radiview.io.dicom import read_dicom, read_dicom_frames, read_dicom_tags
from radiview.io.dicom_luts import apply_lut
from radiview.io.discovery import is_candidate_file, iter_image_files
from radiview.io.formats import MAX_PIXELS, sniff_format
from radiview.io.image import read_image
from radiview.io.loader import load_radiograph
from radiview.io.radiograph import Radiograph, Window
from radiview.io.windowing import (
    CHEST_PRESETS,
    DEFAULT_PERCENTILES,
    apply_window,
    apply_window_unit,
    window_for_bone,
    window_for_preset,
    window_from_percentiles,
)

__all__ = [
    "CHEST_PRESETS",
    "COLOR_TOLERANCE",
    "DEFAULT_PERCENTILES",
    "MAX_PIXELS",
    "Radiograph",
    "Window",
    "apply_luminance",
    "apply_lut",
    "apply_window",
    "apply_window_unit",
    "colorfulness",
    "is_candidate_file",
    "iter_image_files",
    "load_radiograph",
    "read_dicom",
    "read_dicom_frames",
    "read_dicom_tags",
    "read_image",
    "sniff_format",
    "window_for_bone",
    "window_for_preset",
    "window_from_percentiles",
]

"""``load_radiograph``: dispatch a file to the right reader by its content, not its name."""

from __future__ import annotations

import os
from pathlib import Path

from radiview.errors import UnsupportedFormatError
from radiview.io.dicom import read_dicom
from radiview.io.formats import read_head, sniff_format
from radiview.io.image import read_image
from radiview.io.radiograph import Radiograph


def load_radiograph(path: str | os.PathLike[str]) -> Radiograph:
    """Open a chest film: DICOM (with or without preamble), PNG, JPEG, TIFF or BMP.

    The format comes from the first bytes (a JPEG named .png or an extension-less DICOM
    both open). Every failure is a RadiviewError whose message names the file and the
    problem; no library exception escapes.
    """
    p = Path(path)
    kind = sniff_format(read_head(p))
    if kind == "dicom":
        return read_dicom(p)
    if kind is not None:
        return read_image(p)
    raise UnsupportedFormatError("not a DICOM, PNG, JPEG, TIFF or BMP file", p)
